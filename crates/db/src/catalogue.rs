//! [`CatalogueDb`]: the observation catalogue, the field catalogue, curation, what the indexer
//! records, and search.

use crate::driver::{self, Row, query};
use crate::search::{self, PageCursor, PageOrder};
use crate::storage::Storage;
use crate::{CatalogueDb, CatalogueRow, CatalogueTotals, CurationRecord, ObjectOutcome, OutcomeKind, Result, Tag, sql};
use aao_export_core::catalogue::CatalogueEntry;
use aao_export_core::document::{Attribute, Classification, Curation};
use aao_export_core::fields::ExportableField;
use aao_export_core::query::Query;
use async_trait::async_trait;
use std::collections::HashMap;
use std::time::Duration;

/// Totals as [`search::totals_sql`] selects them, times `scale` (for an estimate).
fn totals(row: &Row, scale: f64) -> Result<CatalogueTotals> {
    let column = |name: &str| -> Result<u64> { Ok((row.try_get::<i64>(name)?.max(0) as f64 * scale).round() as u64) };
    Ok(CatalogueTotals {
        ads: column("ads")?,
        images: column("images")?,
        image_bytes: column("image_bytes")?,
        rdo_bytes: column("rdo_bytes")?,
    })
}

/// An ad as [`search::SEARCH_COLUMNS`] select it.
fn catalogue_row(r: &Row) -> Result<CatalogueRow> {
    Ok(CatalogueRow {
        observation_id: r.try_get("observation_id")?,
        observer_id: r.try_get("observer_id")?,
        observed_at: r.try_get("observed_at")?,
        rdo_key: r.try_get("rdo_key")?,
        rdo: r.try_get("rdo")?,
    })
}

#[async_trait]
impl CatalogueDb for Storage {
    async fn exportable_fields(&self) -> Result<Vec<ExportableField>> {
        let rows = query(sql::SELECT_FIELDS).fetch_all(&self.pool).await?;
        rows.iter()
            .map(|r| {
                Ok(ExportableField {
                    field_id: r.uuid("field_id")?,
                    name: r.try_get("name")?,
                    description: r.try_get("description")?,
                    path: r.try_get("path")?,
                    group: r.try_get("group")?,
                    is_default: r.try_get("is_default")?,
                })
            })
            .collect()
    }

    async fn put_tags(&self, tags: &[Tag]) -> Result<()> {
        let mut tx = self.pool.begin(false).await?;
        for t in tags {
            query(sql::UPSERT_TAG).bind(&t.id).bind(&t.name).bind(&t.description).bind(&t.hex).execute(&mut tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn put_curation(&self, records: &[CurationRecord]) -> Result<()> {
        let mut tx = self.pool.begin(false).await?;
        for r in records {
            for statement in [sql::DELETE_APPLIED_TAGS, sql::DELETE_ATTRIBUTES, sql::DELETE_CLASSIFICATIONS] {
                query(statement).bind(&r.observation_id).execute(&mut tx).await?;
            }
            for tag in &r.tag_ids {
                query(sql::INSERT_APPLIED_TAG).bind(&r.observation_id).bind(tag).execute(&mut tx).await?;
            }
            for a in &r.attributes {
                query(sql::INSERT_ATTRIBUTE)
                    .bind(&r.observation_id)
                    .bind(&a.key)
                    .bind(&a.value)
                    .bind(a.created_at)
                    .bind(&a.created_by)
                    .bind(a.modified_at)
                    .bind(&a.modified_by)
                    .execute(&mut tx)
                    .await?;
            }
            for (i, c) in r.classifications.iter().enumerate() {
                query(sql::INSERT_CLASSIFICATION)
                    // A UUID (the AAO's ids are VARCHAR(36)), the same for the same ad and place.
                    .bind(
                        uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, format!("{}:{i}", r.observation_id).as_bytes())
                            .to_string(),
                    )
                    .bind(&r.observation_id)
                    .bind(&c.label)
                    .bind(c.score)
                    // When is not known here; the AAO's columns take no NULL.
                    .bind(0i64)
                    .execute(&mut tx)
                    .await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }

    async fn curation(&self, observation_ids: &[String]) -> Result<HashMap<String, Curation>> {
        let mut out: HashMap<String, Curation> = HashMap::new();
        // One attribute per ad and key: the one under the AAO's route key wins over one under
        // the bare ad id (true: found under the route key).
        let mut attributes: HashMap<(String, String), (bool, Attribute)> = HashMap::new();
        for ids in observation_ids.chunks(sql::MAX_IN_LIST) {
            let text = sql::in_list(sql::SELECT_TAG_NAMES, ids.len());
            let mut q = query(text);
            for id in ids {
                q = q.bind(id);
            }
            for row in q.fetch_all(&self.pool).await? {
                out.entry(row.try_get("observation_id")?).or_default().tags.push(row.try_get("name")?);
            }
            let text = sql::in_list(sql::SELECT_ATTRIBUTES, ids.len());
            let mut q = query(text);
            for id in ids {
                q = q.bind(id);
            }
            for row in q.fetch_all(&self.pool).await? {
                let observation_id: String = row.try_get("observation_id")?;
                let attribute = Attribute {
                    key: row.try_get("key")?,
                    value: row.try_get("value")?,
                    created_at: row.try_get("created_at")?,
                    created_by: row.try_get("created_by")?,
                    modified_at: row.try_get("modified_at")?,
                    modified_by: row.try_get("modified_by")?,
                };
                let route = row.try_get::<i32>("by_route_key")? == 1;
                let slot = attributes.entry((observation_id, attribute.key.clone()));
                match slot {
                    std::collections::hash_map::Entry::Occupied(mut held) if route && !held.get().0 => {
                        held.insert((route, attribute));
                    }
                    std::collections::hash_map::Entry::Occupied(_) => {}
                    std::collections::hash_map::Entry::Vacant(free) => {
                        free.insert((route, attribute));
                    }
                }
            }
            let text = sql::in_list(sql::SELECT_CLASSIFICATIONS, ids.len());
            let mut q = query(text);
            for id in ids {
                q = q.bind(id);
            }
            for row in q.fetch_all(&self.pool).await? {
                out.entry(row.try_get("observation_id")?)
                    .or_default()
                    .classifications
                    .push(Classification { label: row.try_get("label")?, score: row.try_get("score")? });
            }
        }
        // Sorted here, not by ORDER BY, so the order never depends on a database's collation.
        for ((observation_id, _), (_, attribute)) in attributes {
            out.entry(observation_id).or_default().attributes.push(attribute);
        }
        for c in out.values_mut() {
            c.tags.sort();
            c.attributes.sort_by(|a, b| a.key.cmp(&b.key));
            c.classifications.sort_by(|a, b| a.label.cmp(&b.label).then(a.score.total_cmp(&b.score)));
        }
        Ok(out)
    }

    async fn object_versions(&self, keys: &[String]) -> Result<HashMap<String, String>> {
        let mut out = HashMap::new();
        for chunk in keys.chunks(sql::MAX_IN_LIST) {
            let mut q = query(sql::in_list(sql::SELECT_OBJECT_VERSIONS, chunk.len()));
            for key in chunk {
                q = q.bind(key);
            }
            for row in q.fetch_all(&self.pool).await? {
                out.insert(row.try_get("object_key")?, row.try_get("version")?);
            }
        }
        Ok(out)
    }

    async fn record_objects(&self, outcomes: &[ObjectOutcome]) -> Result<()> {
        let mut tx = self.pool.begin(true).await?;
        for run in runs_of_distinct(outcomes) {
            record_run(&mut tx, run).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn unparseable_objects(&self) -> Result<Vec<(String, String)>> {
        let rows = query(sql::SELECT_UNPARSEABLE).fetch_all(&self.pool).await?;
        rows.iter()
            .map(|r| Ok((r.try_get("object_key")?, r.try_get::<Option<String>>("detail")?.unwrap_or_default())))
            .collect()
    }

    async fn object_keys(&self, after: Option<&str>, limit: u32) -> Result<Vec<String>> {
        Ok(query(sql::SELECT_OBJECT_KEYS).bind(after.unwrap_or("")).bind(i64::from(limit)).scalars(&self.pool).await?)
    }

    async fn catalogue_size(&self) -> Result<u64> {
        let n: i64 = query(sql::COUNT_CATALOGUED).scalar(&self.pool).await?;
        Ok(n as u64)
    }

    async fn count_matching(&self, query: &Query) -> Result<u64> {
        Ok(self.catalogue_totals(query).await?.ads)
    }

    async fn catalogue_totals(&self, query: &Query) -> Result<CatalogueTotals> {
        let compiled = search::totals_sql(query, self.flavour.dialect());
        let row = driver::query(compiled.text).bind_all(&compiled.binds).fetch_one(&self.pool).await?;
        totals(&row, 1.0)
    }

    async fn catalogue_totals_within(&self, query: &Query, budget: Duration) -> Result<Option<CatalogueTotals>> {
        let compiled = search::totals_sql(query, self.flavour.dialect());
        let rows = driver::query(compiled.text).bind_all(&compiled.binds).fetch_all_within(&self.pool, budget).await?;
        rows.map(|rows| totals(rows.first().ok_or(sqlx::Error::RowNotFound)?, 1.0)).transpose()
    }

    async fn estimate_totals(&self, query: &Query, sample: u32) -> Result<CatalogueTotals> {
        let Some(below) = search::sample_prefix(u64::from(sample), self.catalogue_size().await?) else {
            return self.catalogue_totals(query).await;
        };
        let compiled = search::sample_totals_sql(query, self.flavour.dialect(), &below);
        let row = driver::query(compiled.text).bind_all(&compiled.binds).fetch_one(&self.pool).await?;
        let sampled = row.try_get::<i64>("sampled")?.max(0) as f64;
        let catalogue = row.try_get::<i64>("catalogue")?.max(0) as f64;
        totals(&row, if sampled > 0.0 { catalogue / sampled } else { 0.0 })
    }

    async fn catalogue_ad(&self, observation_id: &str) -> Result<Option<CatalogueRow>> {
        let row = query(sql::SELECT_AD).bind(observation_id).fetch_optional(&self.pool).await?;
        row.as_ref().map(catalogue_row).transpose()
    }

    async fn search_page(&self, query: &Query, after: Option<&PageCursor>, limit: u32) -> Result<Vec<CatalogueRow>> {
        self.page(query, after, limit, PageOrder::WalkNewest).await
    }

    async fn first_page(
        &self,
        query: &Query,
        limit: u32,
        matching: Option<u64>,
        budget: Duration,
    ) -> Result<Option<Vec<CatalogueRow>>> {
        let order = match matching {
            Some(0) => return Ok(Some(Vec::new())),
            Some(matching) => PageOrder::for_counts(matching, self.catalogue_size().await?, limit),
            None => PageOrder::WalkNewest,
        };
        let compiled = search::page_sql(query, self.flavour.dialect(), None, limit, order);
        let rows = driver::query(compiled.text).bind_all(&compiled.binds).fetch_all_within(&self.pool, budget).await?;
        rows.map(|rows| rows.iter().map(catalogue_row).collect()).transpose()
    }
}

impl Storage {
    async fn page(
        &self,
        query: &Query,
        after: Option<&PageCursor>,
        limit: u32,
        order: PageOrder,
    ) -> Result<Vec<CatalogueRow>> {
        let compiled = search::page_sql(query, self.flavour.dialect(), after, limit, order);
        let rows = driver::query(compiled.text).bind_all(&compiled.binds).fetch_all(&self.pool).await?;
        rows.iter().map(catalogue_row).collect()
    }
}

/// The ad an outcome names, if any.
fn outcome_ad(o: &ObjectOutcome) -> Option<&str> {
    match &o.kind {
        OutcomeKind::Indexed(e, _) => Some(&e.observation_id),
        OutcomeKind::Withdrawn { observation_id } => observation_id.as_deref(),
        OutcomeKind::Unparseable(_) | OutcomeKind::Removed => None,
    }
}

/// `outcomes` cut, in order, into runs in which no key and no ad comes twice. Within such a run
/// the order of the outcomes does not matter, so each run is recorded with a few set-wise
/// statements and the result is the same as recording the outcomes one by one. (A listing's
/// batch is one run: its keys are distinct, and an ad is under one key.)
fn runs_of_distinct(outcomes: &[ObjectOutcome]) -> Vec<&[ObjectOutcome]> {
    let mut runs = Vec::new();
    let (mut start, mut keys, mut ads) = (0, std::collections::HashSet::new(), std::collections::HashSet::new());
    for (i, o) in outcomes.iter().enumerate() {
        let ad = outcome_ad(o);
        if keys.contains(o.key.as_str()) || ad.is_some_and(|ad| ads.contains(ad)) {
            runs.push(&outcomes[start..i]);
            (start, keys, ads) = (i, Default::default(), Default::default());
        }
        keys.insert(o.key.as_str());
        ads.extend(ad);
    }
    if start < outcomes.len() {
        runs.push(&outcomes[start..]);
    }
    runs
}

/// Records one run of [`runs_of_distinct`]: each key keeps only the ad it now holds, withdrawn
/// ads leave, indexed ads and their RDOs are upserted, and each key's outcome is noted (a
/// removed key is forgotten).
async fn record_run(tx: &mut driver::Tx, run: &[ObjectOutcome]) -> Result<()> {
    let key_ads: Vec<[&str; 2]> = run.iter().map(|o| [o.key.as_str(), outcome_ad(o).unwrap_or("")]).collect();
    for chunk in key_ads.chunks(sql::rows_per_statement(2)) {
        let statement = query(sql::rows_list(sql::DELETE_CATALOGUED_BY_KEYS, chunk.len(), 2));
        chunk.iter().flatten().fold(statement, |q, v| q.bind(*v)).execute(&mut *tx).await?;
    }
    let withdrawn: Vec<&str> = run
        .iter()
        .filter_map(|o| match &o.kind {
            OutcomeKind::Withdrawn { observation_id } => observation_id.as_deref(),
            _ => None,
        })
        .collect();
    for chunk in withdrawn.chunks(sql::MAX_IN_LIST) {
        let statement = query(sql::in_list(sql::DELETE_CATALOGUED, chunk.len()));
        chunk.iter().fold(statement, |q, id| q.bind(*id)).execute(&mut *tx).await?;
    }
    let indexed: Vec<(&str, &CatalogueEntry, &String)> = run
        .iter()
        .filter_map(|o| match &o.kind {
            OutcomeKind::Indexed(e, rdo) => Some((o.key.as_str(), &**e, rdo)),
            _ => None,
        })
        .collect();
    for chunk in indexed.chunks(sql::rows_per_statement(sql::UPSERT_CATALOGUED_COLUMNS)) {
        let statement = query(sql::rows_list(sql::UPSERT_CATALOGUED, chunk.len(), sql::UPSERT_CATALOGUED_COLUMNS));
        let statement = chunk.iter().fold(statement, |q, (key, e, rdo)| {
            q.bind(&e.observation_id)
                .bind(&e.observer_id)
                .bind(e.timestamp_ms)
                .bind(&e.observation_uuid)
                .bind(e.observed_at)
                .bind(&e.platform)
                .bind(*key)
                .bind(&e.page_names)
                .bind(&e.categories)
                .bind(&e.search_text)
                .bind(e.image_count as i64)
                .bind(e.image_bytes as i64)
                .bind(rdo.len() as i64)
        });
        statement.execute(&mut *tx).await?;
        let documents = query(sql::rows_list(sql::UPSERT_DOCUMENTS, chunk.len(), 2));
        chunk.iter().fold(documents, |q, (_, e, rdo)| q.bind(&e.observation_id).bind(*rdo)).execute(&mut *tx).await?;
    }
    // What each key held, as the next run compares versions with; a removed key is forgotten.
    let mut removed = Vec::new();
    let mut noted = Vec::new();
    for o in run {
        match &o.kind {
            OutcomeKind::Indexed(..) => noted.push((o, "indexed", None)),
            OutcomeKind::Withdrawn { .. } => noted.push((o, "withdrawn", None)),
            OutcomeKind::Unparseable(reason) => noted.push((o, "unparseable", Some(reason.as_str()))),
            OutcomeKind::Removed => removed.push(o.key.as_str()),
        }
    }
    for chunk in removed.chunks(sql::MAX_IN_LIST) {
        let statement = query(sql::in_list(sql::DELETE_OBJECTS, chunk.len()));
        chunk.iter().fold(statement, |q, key| q.bind(*key)).execute(&mut *tx).await?;
    }
    for chunk in noted.chunks(sql::rows_per_statement(5)) {
        let statement = query(sql::rows_list(sql::UPSERT_OBJECTS, chunk.len(), 5));
        let statement = chunk.iter().fold(statement, |q, (o, outcome, detail)| {
            q.bind(&o.key).bind(&o.version).bind(*outcome).bind(outcome_ad(o)).bind(*detail)
        });
        statement.execute(&mut *tx).await?;
    }
    Ok(())
}
