#!/usr/bin/env bash
# check-zip.sh FILE.zip
#
# Proves a ZIP archive with four independent readers; exits non-zero, naming
# the reader and showing its output, if any of them rejects it:
#   python    zipfile (central directory): testzip() is None, every member
#             read in full (CRC and size checked), names and contents hashed
#   layout    a front-to-back walk (as Java's ZipInputStream reads): every
#             local header and data descriptor agrees with the central
#             directory, no STORED entry has a data descriptor, no gaps
#   unzip     Info-ZIP `unzip -t -q`
#   7z        7-Zip `7z t` (exit 0, "Everything is Ok", no warnings)
#   bsdtar    libarchive reading front to back from stdin, as streaming
#             readers do (no seeking to the central directory): `-tvf -`,
#             `-xOf -`; the member names must equal Python's namelist (same
#             order) and the bytes of all members, concatenated, must equal
#             what Python read.
set -euo pipefail

usage() { echo "usage: $0 FILE.zip" >&2; exit 2; }
[ "$#" -eq 1 ] || usage
zip_file="$1"
[ -f "$zip_file" ] || { echo "check-zip: FAIL: no such file: $zip_file" >&2; exit 2; }

export LC_ALL=C.UTF-8
tmp="$(mktemp -d "${TMPDIR:-/tmp}/check-zip.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT

fail() {
    # fail READER MESSAGE [OUTPUT-FILE]
    {
        echo "check-zip: FAIL [$1] $zip_file: $2"
        if [ -n "${3:-}" ] && [ -s "$3" ]; then
            echo "---- $1 output (last 40 lines) ----"
            tail -n 40 "$3"
            echo "----"
        fi
    } >&2
    exit 1
}

need() {
    command -v "$1" >/dev/null 2>&1 \
        || fail "$2" "'$1' not found (install $3, or run scripts/test.sh which installs it)"
}
need python3 python python3
need unzip unzip unzip
need 7z 7z p7zip-full
need bsdtar bsdtar libarchive-tools

# (a) Python zipfile --------------------------------------------------------
# Writes the member names (one per line) and the sha256 of all member bytes in
# namelist order, for the comparison with libarchive below.
if ! python3 - "$zip_file" "$tmp/py-names" "$tmp/py-sha" >"$tmp/py.out" 2>&1 <<'EOF'
import hashlib, struct, sys, zipfile, zlib
path, names_out, sha_out = sys.argv[1:4]
sys.excepthook = lambda t, v, tb: print(f"{t.__name__}: {v}", file=sys.stderr)

def display_name(info):
    """The name a reader that honours Info-ZIP's Unicode Path extra field
    (0x7075, written by Info-ZIP zip instead of the UTF-8 flag) shows, as
    libarchive and 7-Zip do; Python 3.11's zipfile ignores that field."""
    if info.flag_bits & 0x800:
        return info.filename
    extra = info.extra
    i = 0
    while i + 4 <= len(extra):
        tag, size = struct.unpack_from("<HH", extra, i)
        body = extra[i + 4:i + 4 + size]
        if tag == 0x7075 and len(body) >= 5 and body[0] == 1:
            raw = info.orig_filename.encode("cp437")
            if struct.unpack_from("<I", body, 1)[0] == zlib.crc32(raw):
                return body[5:].decode("utf-8")
        i += 4 + size
    raw = info.orig_filename.encode("cp437")
    if not raw.isascii():
        sys.exit(f"member name {raw!r} has non-ASCII bytes but neither the UTF-8 flag "
                 "(general purpose bit 11) nor a Unicode Path extra field: readers "
                 "disagree on its name (CP437 or the local charset)")
    return info.filename
with zipfile.ZipFile(path) as zf:
    bad = zf.testzip()
    if bad is not None:
        sys.exit(f"testzip(): first bad member: {bad!r}")
    total = hashlib.sha256()
    count = 0
    for info in zf.infolist():
        n = 0
        with zf.open(info) as f:      # checks the local header name and the CRC at EOF
            while True:
                chunk = f.read(1 << 20)
                if not chunk:
                    break
                n += len(chunk)
                total.update(chunk)
        if n != info.file_size:
            sys.exit(f"{info.filename!r}: read {n} bytes, central directory says {info.file_size}")
        count += 1
    names = [display_name(info) for info in zf.infolist()]
    for name in names:
        if "\n" in name or "\r" in name:
            sys.exit(f"member name contains a line break: {name!r}")
with open(names_out, "w", encoding="utf-8") as f:
    f.writelines(name + "\n" for name in names)
with open(sha_out, "w") as f:
    f.write(total.hexdigest() + "\n")
print(f"{count} members")
EOF
then
    fail python "zipfile rejected the archive" "$tmp/py.out"
fi
echo "check-zip: ok [python]  zipfile: $(tail -n1 "$tmp/py.out"), all read, CRCs match"

# (a2) layout: walk the archive front to back like a streaming reader (Java's
# ZipInputStream) and hold every local header and data descriptor to the
# central directory. Catches what the readers here forgive: data descriptors
# with 0xFFFFFFFF or swapped sizes, STORED entries with a data descriptor,
# names, methods or flags that differ between local and central headers, gaps.
if ! python3 - "$zip_file" >"$tmp/layout.out" 2>&1 <<'EOF'
import struct, sys, zipfile
path = sys.argv[1]
sys.excepthook = lambda t, v, tb: print(f"{t.__name__}: {v}", file=sys.stderr)
ZIP64_EXTRA = 0x0001

def extras(blob):
    out, i = {}, 0
    while i + 4 <= len(blob):
        tag, size = struct.unpack_from("<HH", blob, i)
        out[tag] = blob[i + 4:i + 4 + size]
        i += 4 + size
    return out

def fail(info, msg):
    sys.exit(f"{info.filename!r} (local header at {info.header_offset}): {msg}")

with open(path, "rb") as f:
    data = f.read()
with zipfile.ZipFile(path) as zf:
    infos = sorted(zf.infolist(), key=lambda i: i.header_offset)
    cd_start = zf.start_dir
expected = 0
for info in infos:
    o = info.header_offset
    if o != expected:
        fail(info, f"entry starts at {o}, expected {expected} (gap or overlap)")
    if data[o:o + 4] != b"PK\x03\x04":
        fail(info, "no local file header signature")
    (_ver, flags, method, _t, _d, crc, csize, usize, nlen, elen) = struct.unpack_from("<HHHHHIIIHH", data, o + 4)
    raw_name = data[o + 30:o + 30 + nlen]
    cd_raw = info.orig_filename.encode("utf-8" if info.flag_bits & 0x800 else "cp437")
    if raw_name != cd_raw:
        fail(info, f"local name {raw_name!r} differs from central {cd_raw!r}")
    if method != info.compress_type:
        fail(info, f"local method {method} differs from central {info.compress_type}")
    if (flags ^ info.flag_bits) & 0x0809:
        fail(info, f"local flags {flags:#06x} differ from central {info.flag_bits:#06x} (bits 0, 3, 11)")
    ext = extras(data[o + 30 + nlen:o + 30 + nlen + elen])
    zip64 = ZIP64_EXTRA in ext
    start = o + 30 + nlen + elen
    end = start + info.compress_size
    if end > cd_start:
        fail(info, f"data runs past the central directory ({end} > {cd_start})")
    if flags & 0x08:
        if method != zipfile.ZIP_DEFLATED:
            fail(info, f"method {method} entry with a data descriptor: streaming readers "
                       "(Java's ZipInputStream) accept data descriptors only on DEFLATED entries")
        p = end
        if data[p:p + 4] == b"PK\x07\x08":
            p += 4
        if zip64:
            d_crc, d_csize, d_usize = struct.unpack_from("<IQQ", data, p); p += 20
        else:
            d_crc, d_csize, d_usize = struct.unpack_from("<III", data, p); p += 12
        got = (d_crc, d_csize, d_usize)
        want = (info.CRC, info.compress_size, info.file_size)
        if got != want:
            fail(info, "data descriptor (crc, compressed, uncompressed) = "
                       f"({got[0]:#010x}, {got[1]}, {got[2]}), central directory says "
                       f"({want[0]:#010x}, {want[1]}, {want[2]})"
                       + ("" if zip64 else "; read as a 32-bit descriptor because the local header has no ZIP64 extra"))
        expected = p
    else:
        if zip64 and (usize == 0xFFFFFFFF or csize == 0xFFFFFFFF):
            z = ext[ZIP64_EXTRA]
            if len(z) < 16:
                fail(info, "local ZIP64 extra field shorter than 16 bytes")
            usize, csize = struct.unpack_from("<QQ", z, 0)
        got = (crc, csize, usize)
        want = (info.CRC, info.compress_size, info.file_size)
        if got != want:
            fail(info, "local header (crc, compressed, uncompressed) = "
                       f"({got[0]:#010x}, {got[1]}, {got[2]}), central directory says "
                       f"({want[0]:#010x}, {want[1]}, {want[2]})")
        expected = end
if expected != cd_start:
    sys.exit(f"{cd_start - expected} unexpected bytes between the last entry (ends at {expected}) "
             f"and the central directory (at {cd_start})")
print(f"{len(infos)} local headers")
EOF
then
    fail layout "local headers / data descriptors disagree with the central directory" "$tmp/layout.out"
fi
echo "check-zip: ok [layout]  front to back: $(tail -n1 "$tmp/layout.out") and data descriptors agree with the central directory"

# (b) Info-ZIP ----------------------------------------------------------------
su=0
unzip -t -q "$zip_file" >"$tmp/unzip.out" 2>&1 || su=$?
members="$(wc -l <"$tmp/py-names")"
if [ "$su" -eq 1 ] && [ "$members" -eq 0 ] && grep -q 'zipfile is empty' "$tmp/unzip.out"; then
    su=0   # an archive with no members: unzip warns (status 1), nothing to test
fi
if [ "$su" -ne 0 ]; then
    fail unzip "unzip -t -q exited with status $su" "$tmp/unzip.out"
fi
echo "check-zip: ok [unzip]   $(head -n1 "$tmp/unzip.out")"

# (c) 7-Zip -------------------------------------------------------------------
s7=0
7z t -bd -y "$zip_file" >"$tmp/7z.out" 2>&1 || s7=$?
if [ "$s7" -ne 0 ]; then
    fail 7z "7z t exited with status $s7" "$tmp/7z.out"
fi
if ! grep -q '^Everything is Ok' "$tmp/7z.out"; then
    fail 7z "7z t did not print 'Everything is Ok'" "$tmp/7z.out"
fi
if grep -qiE '^(WARNINGS?|ERRORS?):|^Sub items Errors|^Warnings:|^Errors:' "$tmp/7z.out"; then
    fail 7z "7z t reported warnings or errors" "$tmp/7z.out"
fi
echo "check-zip: ok [7z]      7z t: Everything is Ok"

# (d) libarchive, streaming from stdin ----------------------------------------
if ! bsdtar -tvf - <"$zip_file" >"$tmp/bsdtar-tv.out" 2>&1; then
    fail bsdtar "bsdtar -tvf - (streaming listing) failed" "$tmp/bsdtar-tv.out"
fi
if ! bsdtar -tf - <"$zip_file" >"$tmp/bsdtar-names" 2>"$tmp/bsdtar-t.err"; then
    fail bsdtar "bsdtar -tf - (streaming listing) failed" "$tmp/bsdtar-t.err"
fi
if ! bsdtar -xOf - <"$zip_file" >/dev/null 2>"$tmp/bsdtar-x.err"; then
    fail bsdtar "bsdtar -xOf - (streaming extraction) failed" "$tmp/bsdtar-x.err"
fi
if [ -s "$tmp/bsdtar-x.err" ]; then
    fail bsdtar "bsdtar -xOf - printed warnings" "$tmp/bsdtar-x.err"
fi
if ! cmp -s "$tmp/py-names" "$tmp/bsdtar-names"; then
    diff -u --label python-namelist --label bsdtar-streaming "$tmp/py-names" "$tmp/bsdtar-names" \
        | head -n 40 >"$tmp/names.diff" || true
    fail bsdtar "member names read front to back differ from the central directory" "$tmp/names.diff"
fi
set +o pipefail
bsdtar -xOf - <"$zip_file" 2>>"$tmp/bsdtar-x.err" | sha256sum | cut -d' ' -f1 >"$tmp/bsdtar-sha"
x_status=${PIPESTATUS[0]}
set -o pipefail
if [ "$x_status" -ne 0 ]; then
    fail bsdtar "bsdtar -xOf - (streaming extraction) failed on the second pass" "$tmp/bsdtar-x.err"
fi
if ! cmp -s "$tmp/py-sha" "$tmp/bsdtar-sha"; then
    fail bsdtar "member bytes read front to back differ from what zipfile read (sha256 $(cat "$tmp/bsdtar-sha") vs $(cat "$tmp/py-sha"))"
fi
echo "check-zip: ok [bsdtar]  streaming from stdin: $(wc -l <"$tmp/bsdtar-names") names as in the central directory, same bytes"
echo "check-zip: PASS $zip_file"
