//! A ZIP writer for archives of any size in flat memory.
//!
//! Why not the `zip` crate's writer: it keeps every entry's metadata in memory until the central
//! directory is written (several hundred bytes per entry), so an export of a million ads with
//! images would hold gigabytes; and its non-seekable mode writes every entry with a data
//! descriptor and zero sizes in the local header, which front-to-back readers handle poorly for
//! stored entries. Here each entry's bytes are in hand before its header is written, so local
//! headers carry the real CRC and sizes (no data descriptors), and the central directory is
//! spooled to a temporary file as entries go by. Entries in hand are deflated whole by
//! libdeflate ([`Deflater`]), streamed ones are deflated by their writer (`flate2`); checksums are
//! `crc32fast`; the `zip` crate reads our archives back in the tests, beside Info-ZIP, 7-Zip,
//! libarchive and Python.

use crate::deflate::Deflater;
use std::fs::File;
use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};

const LOCAL_HEADER: u32 = 0x0403_4b50;
const CENTRAL_HEADER: u32 = 0x0201_4b50;
const END_OF_CENTRAL: u32 = 0x0605_4b50;
const ZIP64_END_OF_CENTRAL: u32 = 0x0606_4b50;
const ZIP64_LOCATOR: u32 = 0x0706_4b50;
const ZIP64_EXTRA: u16 = 0x0001;
const UTF8_NAMES: u16 = 1 << 11;
const U32_LIMIT: u64 = 0xFFFF_FFFF;
/// Version 4.5 (ZIP64), made on Unix, so readers apply the permission bits below.
const VERSION_MADE_BY: u16 = (3 << 8) | 45;
const FILE_MODE: u32 = 0o100_644;

/// The bytes an entry costs beside its data and name: its local header (30) and its central
/// directory record (46). (Entries past 4 GiB carry 20 more for ZIP64.)
const ENTRY_RECORDS: u64 = 30 + 46;
/// The end of central directory record, and ZIP64's end record and locator.
const END_RECORD: u64 = 22;
const ZIP64_END_RECORDS: u64 = 56 + 20;

/// What an entry named with `name_len` bytes costs beside its data (as [`ZipStreamWriter::add_raw`]
/// writes it, below 4 GiB): its local header and central directory record, each with the name.
pub fn entry_overhead(name_len: usize) -> u64 {
    ENTRY_RECORDS + 2 * name_len as u64
}

/// The end records [`ZipStreamWriter::finish`] writes after `entries` entries taking `bytes`.
pub fn end_records(entries: u64, bytes: u64) -> u64 {
    if entries >= 0xFFFF || bytes >= U32_LIMIT { END_RECORD + ZIP64_END_RECORDS } else { END_RECORD }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Stored = 0,
    Deflated = 8,
}

/// An entry whose compressed bytes are ready elsewhere (a spooled file).
pub struct RawEntry<R> {
    pub method: Method,
    pub crc32: u32,
    pub uncompressed_size: u64,
    pub compressed_size: u64,
    pub data: R,
}

pub struct ZipStreamWriter<W: Write> {
    out: W,
    offset: u64,
    central: BufWriter<File>,
    central_size: u64,
    entries: u64,
    deflater: Deflater,
    scratch: Vec<u8>,
    dos_time: u16,
    dos_date: u16,
}

impl<W: Write> ZipStreamWriter<W> {
    /// `modified` is the time every entry carries, as (year, month, day, hour, minute, second).
    pub fn new(out: W, modified: (u16, u8, u8, u8, u8, u8)) -> io::Result<Self> {
        let (year, month, day, hour, minute, second) = modified;
        Ok(Self {
            out,
            offset: 0,
            central: BufWriter::with_capacity(64 * 1024, tempfile::tempfile()?),
            central_size: 0,
            entries: 0,
            deflater: Deflater::default(),
            scratch: Vec::new(),
            dos_time: (u16::from(hour) << 11) | (u16::from(minute) << 5) | (u16::from(second) / 2),
            dos_date: (year.clamp(1980, 2107) - 1980) << 9 | (u16::from(month) << 5) | u16::from(day),
        })
    }

    /// Bytes written so far.
    pub fn position(&self) -> u64 {
        self.offset
    }

    /// Adds an entry; `Deflated` falls back to `Stored` when compression would not shrink it.
    pub fn add(&mut self, name: &str, data: &[u8], method: Method) -> io::Result<()> {
        let crc32 = crc32fast::hash(data);
        let deflated = method == Method::Deflated && self.deflater.deflate(data, &mut self.scratch);
        let scratch = std::mem::take(&mut self.scratch);
        let (method, stored) = if deflated { (Method::Deflated, scratch.as_slice()) } else { (Method::Stored, data) };
        let entry = RawEntry {
            method,
            crc32,
            uncompressed_size: data.len() as u64,
            compressed_size: stored.len() as u64,
            data: stored,
        };
        let result = self.add_raw(name, entry);
        self.scratch = scratch;
        result
    }

    /// Adds an entry whose compressed bytes, CRC and sizes are already known.
    pub fn add_raw<R: Read>(&mut self, name: &str, mut entry: RawEntry<R>) -> io::Result<()> {
        if name.len() > usize::from(u16::MAX) - 64 {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "entry name too long"));
        }
        let header_offset = self.offset;
        let sizes_overflow = entry.uncompressed_size >= U32_LIMIT || entry.compressed_size >= U32_LIMIT;
        let flags = if name.is_ascii() { 0 } else { UTF8_NAMES };
        let needed: u16 = if sizes_overflow || header_offset >= U32_LIMIT { 45 } else { 20 };

        let mut local = Vec::with_capacity(30 + name.len() + 20);
        put32(&mut local, LOCAL_HEADER);
        put16(&mut local, needed);
        put16(&mut local, flags);
        put16(&mut local, entry.method as u16);
        put16(&mut local, self.dos_time);
        put16(&mut local, self.dos_date);
        put32(&mut local, entry.crc32);
        if sizes_overflow {
            put32(&mut local, U32_LIMIT as u32);
            put32(&mut local, U32_LIMIT as u32);
        } else {
            put32(&mut local, entry.compressed_size as u32);
            put32(&mut local, entry.uncompressed_size as u32);
        }
        put16(&mut local, name.len() as u16);
        put16(&mut local, if sizes_overflow { 20 } else { 0 });
        local.extend_from_slice(name.as_bytes());
        if sizes_overflow {
            put16(&mut local, ZIP64_EXTRA);
            put16(&mut local, 16);
            put64(&mut local, entry.uncompressed_size);
            put64(&mut local, entry.compressed_size);
        }
        self.write_out(&local)?;
        let copied = io::copy(&mut (&mut entry.data).take(entry.compressed_size), &mut CountingOut(self))?;
        if copied != entry.compressed_size {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("entry {name}: expected {} bytes, read {copied}", entry.compressed_size),
            ));
        }

        // Central directory record, spooled until the end.
        let mut extra = Vec::new();
        if entry.uncompressed_size >= U32_LIMIT {
            put64(&mut extra, entry.uncompressed_size);
        }
        if entry.compressed_size >= U32_LIMIT {
            put64(&mut extra, entry.compressed_size);
        }
        if header_offset >= U32_LIMIT {
            put64(&mut extra, header_offset);
        }
        let mut central = Vec::with_capacity(46 + name.len() + 28);
        put32(&mut central, CENTRAL_HEADER);
        put16(&mut central, VERSION_MADE_BY);
        put16(&mut central, needed);
        put16(&mut central, flags);
        put16(&mut central, entry.method as u16);
        put16(&mut central, self.dos_time);
        put16(&mut central, self.dos_date);
        put32(&mut central, entry.crc32);
        put32(&mut central, entry.compressed_size.min(U32_LIMIT) as u32);
        put32(&mut central, entry.uncompressed_size.min(U32_LIMIT) as u32);
        put16(&mut central, name.len() as u16);
        put16(&mut central, if extra.is_empty() { 0 } else { extra.len() as u16 + 4 });
        put16(&mut central, 0); // comment
        put16(&mut central, 0); // disk
        put16(&mut central, 0); // internal attributes
        put32(&mut central, FILE_MODE << 16);
        put32(&mut central, header_offset.min(U32_LIMIT) as u32);
        central.extend_from_slice(name.as_bytes());
        if !extra.is_empty() {
            put16(&mut central, ZIP64_EXTRA);
            put16(&mut central, extra.len() as u16);
            central.extend_from_slice(&extra);
        }
        self.central.write_all(&central)?;
        self.central_size += central.len() as u64;
        self.entries += 1;
        Ok(())
    }

    /// Writes the central directory and end records; returns the output and the archive's size.
    pub fn finish(mut self) -> io::Result<(W, u64)> {
        let central_offset = self.offset;
        let mut spool = self.central.into_inner().map_err(io::IntoInnerError::into_error)?;
        spool.seek(SeekFrom::Start(0))?;
        self.central = BufWriter::new(tempfile::tempfile()?);
        let copied = io::copy(&mut spool, &mut CountingOut(&mut self))?;
        debug_assert_eq!(copied, self.central_size);

        let needs_zip64 = self.entries >= 0xFFFF || self.central_size >= U32_LIMIT || central_offset >= U32_LIMIT;
        let mut end = Vec::with_capacity(98);
        if needs_zip64 {
            let zip64_end_offset = self.offset;
            put32(&mut end, ZIP64_END_OF_CENTRAL);
            put64(&mut end, 44);
            put16(&mut end, VERSION_MADE_BY);
            put16(&mut end, 45);
            put32(&mut end, 0);
            put32(&mut end, 0);
            put64(&mut end, self.entries);
            put64(&mut end, self.entries);
            put64(&mut end, self.central_size);
            put64(&mut end, central_offset);
            put32(&mut end, ZIP64_LOCATOR);
            put32(&mut end, 0);
            put64(&mut end, zip64_end_offset);
            put32(&mut end, 1);
        }
        put32(&mut end, END_OF_CENTRAL);
        put16(&mut end, 0);
        put16(&mut end, 0);
        put16(&mut end, self.entries.min(0xFFFF) as u16);
        put16(&mut end, self.entries.min(0xFFFF) as u16);
        put32(&mut end, self.central_size.min(U32_LIMIT) as u32);
        put32(&mut end, central_offset.min(U32_LIMIT) as u32);
        put16(&mut end, 0);
        self.write_out(&end)?;
        self.out.flush()?;
        Ok((self.out, self.offset))
    }

    fn write_out(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.out.write_all(bytes)?;
        self.offset += bytes.len() as u64;
        Ok(())
    }
}

struct CountingOut<'a, W: Write>(&'a mut ZipStreamWriter<W>);

impl<W: Write> Write for CountingOut<'_, W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write_out(buf)?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn put16(v: &mut Vec<u8>, x: u16) {
    v.extend_from_slice(&x.to_le_bytes());
}
fn put32(v: &mut Vec<u8>, x: u32) {
    v.extend_from_slice(&x.to_le_bytes());
}
fn put64(v: &mut Vec<u8>, x: u64) {
    v.extend_from_slice(&x.to_le_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_archive_weighs_its_entries_their_records_and_the_end() {
        let mut zip = ZipStreamWriter::new(Vec::new(), (2026, 1, 2, 3, 4, 5)).unwrap();
        zip.add("all_data.csv", b"abc", Method::Stored).unwrap();
        zip.add("ads/x/data.json", b"{}", Method::Stored).unwrap();
        let (bytes, size) = zip.finish().unwrap();
        assert_eq!(size, bytes.len() as u64);
        assert_eq!(size, entry_overhead(12) + 3 + entry_overhead(15) + 2 + end_records(2, size));
        assert_eq!(entry_overhead("all_data.csv".len()), 76 + 24);
        assert_eq!(end_records(0xFFFF, 0), 22 + 76);
    }
    use std::io::Cursor;

    const TIME: (u16, u8, u8, u8, u8, u8) = (2026, 11, 24, 13, 45, 30);

    fn read_back(bytes: &[u8]) -> Vec<(String, Vec<u8>, zip::CompressionMethod)> {
        let mut archive = zip::ZipArchive::new(Cursor::new(bytes)).expect("the zip crate opens the archive");
        (0..archive.len())
            .map(|i| {
                let mut f = archive.by_index(i).unwrap();
                let mut data = Vec::new();
                f.read_to_end(&mut data).unwrap();
                (f.name().unwrap().to_string(), data, f.compression())
            })
            .collect()
    }

    #[test]
    fn entries_round_trip_through_the_zip_crate() {
        let mut w = ZipStreamWriter::new(Vec::new(), TIME).unwrap();
        let text = "hello, world\n".repeat(100);
        // xorshift output: incompressible, so deflate cannot shrink it
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        let noise: Vec<u8> = (0..5000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 32) as u8
            })
            .collect();
        w.add("ads/a/data.json", text.as_bytes(), Method::Deflated).unwrap();
        w.add("ads/a/image_1.jpg", &noise, Method::Stored).unwrap();
        w.add("ads/a/empty.txt", b"", Method::Deflated).unwrap();
        w.add("ads/ü/x", &noise, Method::Deflated).unwrap(); // incompressible: stored instead
        let (bytes, size) = w.finish().unwrap();
        assert_eq!(size as usize, bytes.len());
        let entries = read_back(&bytes);
        assert_eq!(entries.len(), 4);
        assert_eq!(entries[0], ("ads/a/data.json".into(), text.into_bytes(), zip::CompressionMethod::Deflated));
        assert_eq!(entries[1], ("ads/a/image_1.jpg".into(), noise.clone(), zip::CompressionMethod::Stored));
        assert_eq!(entries[2].1, b"");
        assert_eq!(entries[3], ("ads/ü/x".into(), noise, zip::CompressionMethod::Stored));
        let mut archive = zip::ZipArchive::new(Cursor::new(&bytes)).unwrap();
        let f = archive.by_index(0).unwrap();
        assert_eq!(f.unix_mode(), Some(FILE_MODE));
        let t = f.last_modified().unwrap();
        assert_eq!((t.year(), t.month(), t.day(), t.hour(), t.minute(), t.second()), (2026, 11, 24, 13, 45, 30));
    }

    #[test]
    fn local_headers_carry_real_sizes_for_streaming_readers() {
        let mut w = ZipStreamWriter::new(Vec::new(), TIME).unwrap();
        w.add("a.bin", &[7u8; 300], Method::Stored).unwrap();
        let (bytes, _) = w.finish().unwrap();
        assert_eq!(&bytes[0..4], &LOCAL_HEADER.to_le_bytes());
        let flags = u16::from_le_bytes([bytes[6], bytes[7]]);
        assert_eq!(flags & 0x8, 0, "no data descriptor");
        assert_eq!(u32::from_le_bytes(bytes[14..18].try_into().unwrap()), crc32fast::hash(&[7u8; 300]));
        assert_eq!(u32::from_le_bytes(bytes[18..22].try_into().unwrap()), 300);
        assert_eq!(u32::from_le_bytes(bytes[22..26].try_into().unwrap()), 300);
    }

    #[test]
    fn many_entries_switch_to_zip64_end_records() {
        let mut w = ZipStreamWriter::new(Vec::new(), TIME).unwrap();
        for i in 0..70_000u32 {
            w.add(&format!("e/{i}"), &i.to_le_bytes(), Method::Stored).unwrap();
        }
        let (bytes, _) = w.finish().unwrap();
        let mut archive = zip::ZipArchive::new(Cursor::new(&bytes)).unwrap();
        assert_eq!(archive.len(), 70_000);
        let mut last = Vec::new();
        archive.by_name("e/69999").unwrap().read_to_end(&mut last).unwrap();
        assert_eq!(last, 69_999u32.to_le_bytes());
    }

    /// Writes zero runs as holes, so a 4+ GiB archive costs no disk.
    struct SparseFile(File);

    impl Write for SparseFile {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if buf.iter().all(|&b| b == 0) {
                self.0.seek(SeekFrom::Current(buf.len() as i64))?;
                Ok(buf.len())
            } else {
                self.0.write(buf)
            }
        }
        fn flush(&mut self) -> io::Result<()> {
            self.0.flush()
        }
    }

    /// An entry larger than 4 GiB and one that starts past 4 GiB need the ZIP64 fields.
    #[test]
    #[cfg_attr(debug_assertions, ignore = "streams 4.3 GB; runs in release (the test command)")]
    fn entries_past_four_gigabytes_use_zip64_fields() {
        let size: u64 = (1 << 32) + 1_000_000;
        let mut crc = crc32fast::Hasher::new();
        let zeros = vec![0u8; 1 << 20];
        let mut left = size;
        while left > 0 {
            let n = left.min(zeros.len() as u64) as usize;
            crc.update(&zeros[..n]);
            left -= n as u64;
        }
        let named = tempfile::NamedTempFile::new().unwrap();
        let file = named.reopen().unwrap();
        let mut w = ZipStreamWriter::new(SparseFile(file.try_clone().unwrap()), TIME).unwrap();
        w.add("first.txt", b"before", Method::Stored).unwrap();
        let entry = RawEntry {
            method: Method::Stored,
            crc32: crc.finalize(),
            uncompressed_size: size,
            compressed_size: size,
            data: io::repeat(0).take(size),
        };
        w.add_raw("big.bin", entry).unwrap();
        w.add("after.txt", "after the big one ".repeat(10).as_bytes(), Method::Deflated).unwrap();
        let (sparse, total) = w.finish().unwrap();
        sparse.0.set_len(total).unwrap();
        assert!(total > size);

        let mut archive = zip::ZipArchive::new(file).expect("the zip crate reads the ZIP64 records");
        assert_eq!(archive.len(), 3);
        assert_eq!(archive.by_name("big.bin").unwrap().size(), size);
        let mut after = String::new();
        archive.by_name("after.txt").unwrap().read_to_string(&mut after).unwrap();
        assert_eq!(after, "after the big one ".repeat(10));
        let mut first = String::new();
        archive.by_name("first.txt").unwrap().read_to_string(&mut first).unwrap();
        assert_eq!(first, "before");

        // And the other readers (scripts/check-zip.sh), when the test command provides them.
        if let Ok(script) = std::env::var("AAO_CHECK_ZIP") {
            let out = std::process::Command::new("bash").arg(script).arg(named.path()).output().unwrap();
            assert!(
                out.status.success(),
                "check-zip rejected the ZIP64 archive:\n{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }

    #[test]
    fn raw_entries_must_supply_their_bytes() {
        let mut w = ZipStreamWriter::new(Vec::new(), TIME).unwrap();
        let err = w
            .add_raw(
                "x",
                RawEntry {
                    method: Method::Stored,
                    crc32: 0,
                    uncompressed_size: 10,
                    compressed_size: 10,
                    data: &b"short"[..],
                },
            )
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
    }
}
