//! Bookkeeping documents that grow with the tenant (the group scope, the
//! deletions held back): one DynamoDB item holds at most 400 KB, so a
//! document is kept as JSON text split over as many chunk items as it needs.
//!
//! Layout under the tenant's `pk`: a header item at `<sk>` naming the
//! current generation and its chunk count, and the chunks at
//! `<sk>#<generation>#<index>`. A save writes a new generation's chunks
//! first and the header last, so a reader (or a save killed half-way)
//! never sees a document made of two generations; the chunks of the
//! generation replaced are deleted afterwards (a save killed between its
//! chunks and its header leaves chunks no header names: unread, not wrong).
//! A header from before the chunked layout holds the whole document in its
//! `value`. Only one run of a tenant saves at a time (its lease).

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::ReturnValue;

use super::dynamo::{
    Item, batch_get, batch_write, delete_request, malformed, n, put_request, s, text, unavailable,
};
use super::layout::{chunk_sk, key};
use crate::model::TenantId;
use crate::ports::StoreError;

/// The JSON text per chunk item: well below the 400 KB item limit.
pub const CHUNK_BYTES: usize = 300_000;

/// `text` in pieces of at most `limit` bytes, cut at character boundaries.
pub fn split_text(text: &str, limit: usize) -> Vec<&str> {
    let mut pieces = Vec::new();
    let mut rest = text;
    while rest.len() > limit {
        let mut cut = limit;
        while !rest.is_char_boundary(cut) {
            cut -= 1;
        }
        let (piece, tail) = rest.split_at(cut);
        pieces.push(piece);
        rest = tail;
    }
    pieces.push(rest);
    pieces
}

/// The chunk count a header names.
fn chunk_count(header: &Item) -> Result<usize, StoreError> {
    header
        .get("chunks")
        .and_then(|v| v.as_n().ok())
        .and_then(|raw| raw.parse().ok())
        .ok_or_else(|| malformed("a bookkeeping header", "chunks is not a count"))
}

pub struct ChunkedDocuments<'a> {
    pub client: &'a Client,
    pub table: &'a str,
}

impl ChunkedDocuments<'_> {
    /// Replaces the document at `sk` with `json`.
    pub async fn save(&self, tenant: &TenantId, sk: &str, json: &str) -> Result<(), StoreError> {
        let generation = uuid::Uuid::new_v4().simple().to_string()[..12].to_owned();
        let pieces = split_text(json, CHUNK_BYTES);
        let chunks = pieces
            .iter()
            .enumerate()
            .map(|(i, piece)| {
                let mut item = key(tenant, chunk_sk(sk, &generation, i));
                item.insert("value".into(), s(*piece));
                put_request(item)
            })
            .collect::<Result<Vec<_>, _>>()?;
        batch_write(self.client, self.table, chunks, "saving sync bookkeeping").await?;
        let mut header = key(tenant, sk);
        header.insert("generation".into(), s(&generation));
        header.insert("chunks".into(), n(pieces.len() as i64));
        let replaced = self
            .client
            .put_item()
            .table_name(self.table)
            .set_item(Some(header))
            .return_values(ReturnValue::AllOld)
            .send()
            .await
            .map_err(unavailable("saving sync bookkeeping"))?
            .attributes;
        // The new document is durable: a failure to tidy the old one away
        // leaves unread chunks, not a failed run.
        if let Some(old) = replaced
            && let Err(err) = self.delete_chunks(tenant, sk, &old).await
        {
            tracing::warn!(tenant_id = %tenant, document = sk, error = %err, "could not delete the replaced chunks");
        }
        Ok(())
    }

    /// The chunks of a replaced generation (none for a legacy header).
    async fn delete_chunks(
        &self,
        tenant: &TenantId,
        sk: &str,
        header: &Item,
    ) -> Result<(), StoreError> {
        let Some(generation) = text(header, "generation") else {
            return Ok(());
        };
        let deletes = (0..chunk_count(header)?)
            .map(|i| delete_request(key(tenant, chunk_sk(sk, &generation, i))))
            .collect::<Result<Vec<_>, _>>()?;
        batch_write(
            self.client,
            self.table,
            deletes,
            "removing replaced bookkeeping",
        )
        .await?;
        Ok(())
    }

    /// The document at `sk`, if one was saved.
    pub async fn load(&self, tenant: &TenantId, sk: &str) -> Result<Option<String>, StoreError> {
        let header = self
            .client
            .get_item()
            .table_name(self.table)
            .set_key(Some(key(tenant, sk)))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable("reading sync bookkeeping"))?
            .item;
        let Some(header) = header else {
            return Ok(None);
        };
        if let Some(whole) = text(&header, "value") {
            return Ok(Some(whole));
        }
        let generation = text(&header, "generation")
            .ok_or_else(|| malformed("a bookkeeping header", "it names no generation"))?;
        let count = chunk_count(&header)?;
        let keys = (0..count)
            .map(|i| key(tenant, chunk_sk(sk, &generation, i)))
            .collect();
        let mut chunks: Vec<(String, String)> =
            batch_get(self.client, self.table, keys, "reading sync bookkeeping")
                .await?
                .iter()
                .filter_map(|item| Some((text(item, "sk")?, text(item, "value")?)))
                .collect();
        if chunks.len() != count {
            return Err(malformed(
                "sync bookkeeping",
                format!("{sk}: {} of {count} chunks found", chunks.len()),
            ));
        }
        // Chunk keys sort by their zero-padded index.
        chunks.sort();
        Ok(Some(chunks.into_iter().map(|(_, piece)| piece).collect()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_split_at_character_boundaries_and_joins_back() {
        let text = "aé".repeat(10);
        let pieces = split_text(&text, 4);
        assert!(pieces.iter().all(|p| p.len() <= 4));
        assert_eq!(pieces.concat(), text);
        assert_eq!(split_text("", 4), vec![""]);
    }
}
