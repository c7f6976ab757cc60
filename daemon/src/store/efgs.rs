//! The store's part of the EFGS gateway and client (`efgs`): member uploads committed atomically
//! with their `batchTag`, the gateway's reads of remote keys by arrival, and the EFGS client's
//! positions and the gateway's registered callbacks.
//!
//! A member upload is written like an app upload (`local` keys, an `uploads` record per distinct
//! visited list, one fsynced `WriteBatch`); its batchTag is recorded in `codes` as a used code
//! (the hash of `efgs-batch-tag\0<country>\0<tag>`), so a tag is accepted once. Keys uploaded by a
//! CA-tree node of another region become `remote` keys of that region in the same kind of write.
//!
//! This module never returns visited regions and never writes part of an upload.

use enmesh_protocol::keys::DiagnosisKey;
use enmesh_protocol::region::RegionId;
use rocksdb::WriteBatch;

use super::layout::{CODES, LOCAL, META, META_CLOCK, REMOTE, UPLOADS, corrupt};
use super::record::{
    CodeRecord, CodeUse, LocalKeyRecord, RemoteKeyRecord, UploadRecord, decode, encode, from_wire,
};
use super::{Arrival, CodeHash, Outcome, Result, Store, UploadId, UploadRefusal};
use crate::wire::key_to_wire;

/// The `codes` entry of a member's batchTag.
pub fn efgs_tag_code(country: &str, tag: &str) -> CodeHash {
    CodeHash::of(&format!("efgs-batch-tag\0{country}\0{tag}"))
}

/// The `codes` entry of a key a member uploaded through the gateway, from its EFGS dedup hash
/// (`EfgsKey::dedup_hash`: hex SHA-256 of its canonical record), so the same record is taken
/// once, as EFGS's unique constraint does.
pub fn efgs_key_code(dedup_hash: &str) -> CodeHash {
    CodeHash::of(&format!("efgs-key\0{dedup_hash}"))
}

/// One group of a member upload: keys that share a visited list.
#[derive(Debug, Clone, Copy)]
pub struct MemberGroup<'a> {
    /// The keys.
    pub keys: &'a [DiagnosisKey],
    /// Their visited regions (home excluded).
    pub visited: &'a [RegionId],
}

/// One remote key as the gateway reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteEntry {
    /// Its arrival position.
    pub at: Arrival,
    /// The key.
    pub key: DiagnosisKey,
    /// The region it came from.
    pub origin: RegionId,
}

const META_EFGS: &str = "efgs\0";
/// After [`META_EFGS`]: a gateway callback, `cb\0<country>\0<id>` → its URL.
const CALLBACK: &str = "cb\0";

fn callback_key(country: &str, id: &str) -> Vec<u8> {
    format!("{META_EFGS}{CALLBACK}{country}\0{id}").into_bytes()
}

impl Store {
    /// Whether a batchTag code was recorded.
    pub fn efgs_tag_seen(&self, tag: &CodeHash) -> Result<bool> {
        Ok(self.db.get_pinned_cf(self.cf(CODES)?, tag.0)?.is_some())
    }

    /// For each code, whether it was recorded (the gateway's key dedup lookup).
    pub fn efgs_codes_seen(&self, codes: &[CodeHash]) -> Result<Vec<bool>> {
        let cf = self.cf(CODES)?;
        self.db
            .batched_multi_get_cf(cf, codes.iter().map(|c| &c.0), false)
            .into_iter()
            .map(|found| Ok(found?.is_some()))
            .collect()
    }

    /// Commits a member upload in one atomic write: every group's keys in `local` with an
    /// upload record carrying its visited list, `tag` and every `key_codes` entry
    /// ([`efgs_key_code`]) as used codes. A tag already recorded is [`UploadRefusal::CodeUsed`]
    /// and writes nothing. Returns the arrival time.
    pub fn commit_member_upload(
        &self,
        tag: &CodeHash,
        groups: &[MemberGroup<'_>],
        key_codes: &[CodeHash],
        now: u64,
    ) -> Outcome<u64, UploadRefusal> {
        let mut clock = self.lock();
        let (codes, local, uploads) = (self.cf(CODES)?, self.cf(LOCAL)?, self.cf(UPLOADS)?);
        if self.db.get_pinned_cf(codes, tag.0)?.is_some() {
            return Ok(Err(UploadRefusal::CodeUsed));
        }
        let mut counts = Vec::with_capacity(groups.len());
        for group in groups {
            match u32::try_from(group.keys.len()) {
                Ok(count) => counts.push(count),
                Err(_) => return Ok(Err(UploadRefusal::TooManyKeys(group.keys.len()))),
            }
        }
        let total: usize = groups.iter().map(|g| g.keys.len() + 1).sum();
        let (unix_secs, first_seq, next_clock) = clock.allocate(now, total);
        let mut batch = WriteBatch::default();
        let mut seq = first_seq;
        let mut all_keys = 0u32;
        for (group, key_count) in groups.iter().zip(counts) {
            all_keys = all_keys.saturating_add(key_count);
            let upload_seq = seq;
            seq += 1;
            for key in group.keys {
                let value = LocalKeyRecord {
                    key: Some(key_to_wire(key)),
                    upload_seq,
                };
                batch.put_cf(local, Arrival { unix_secs, seq }.to_key(), encode(&value));
                seq += 1;
            }
            let record = UploadRecord {
                visited_regions: group.visited.iter().map(ToString::to_string).collect(),
                key_count,
                code_hash: tag.0.to_vec(),
                upload_id: UploadId::of_keys(group.keys).0.to_vec(),
            };
            let at = Arrival {
                unix_secs,
                seq: upload_seq,
            };
            batch.put_cf(uploads, at.to_key(), encode(&record));
        }
        self.put_tag(&mut batch, tag, unix_secs, all_keys)?;
        self.put_key_codes(&mut batch, tag, key_codes, unix_secs)?;
        batch.put_cf(self.cf(META)?, META_CLOCK, next_clock.to_bytes());
        self.write(batch)?;
        *clock = next_clock;
        Ok(Ok(unix_secs))
    }

    /// Commits keys a CA-tree node of region `origin` uploaded through the gateway: `remote`
    /// keys of `origin`, `tag` and `key_codes` as used codes, in one atomic write
    /// ([`UploadRefusal::CodeUsed`] for a tag already recorded).
    pub fn commit_gateway_remote(
        &self,
        tag: &CodeHash,
        origin: &RegionId,
        keys: &[DiagnosisKey],
        key_codes: &[CodeHash],
        now: u64,
    ) -> Outcome<u64, UploadRefusal> {
        let mut clock = self.lock();
        if self.db.get_pinned_cf(self.cf(CODES)?, tag.0)?.is_some() {
            return Ok(Err(UploadRefusal::CodeUsed));
        }
        let Ok(count) = u32::try_from(keys.len()) else {
            return Ok(Err(UploadRefusal::TooManyKeys(keys.len())));
        };
        let (unix_secs, first_seq, next_clock) = clock.allocate(now, keys.len());
        let mut batch = WriteBatch::default();
        self.put_remote_keys(&mut batch, origin, keys, unix_secs, first_seq)?;
        self.put_tag(&mut batch, tag, unix_secs, count)?;
        self.put_key_codes(&mut batch, tag, key_codes, unix_secs)?;
        batch.put_cf(self.cf(META)?, META_CLOCK, next_clock.to_bytes());
        self.write(batch)?;
        *clock = next_clock;
        Ok(Ok(unix_secs))
    }

    /// The key codes of an upload, as used codes (retention drops them with the keys).
    fn put_key_codes(
        &self,
        batch: &mut WriteBatch,
        tag: &CodeHash,
        codes: &[CodeHash],
        at: u64,
    ) -> Result<()> {
        let cf = self.cf(CODES)?;
        let value = encode(&CodeRecord {
            expires_unix_secs: at,
            used: Some(CodeUse {
                upload_id: tag.0.to_vec(),
                arrival_unix_secs: at,
                key_count: 1,
            }),
        });
        for code in codes {
            batch.put_cf(cf, code.0, &value);
        }
        Ok(())
    }

    fn put_tag(&self, batch: &mut WriteBatch, tag: &CodeHash, at: u64, keys: u32) -> Result<()> {
        let record = CodeRecord {
            expires_unix_secs: at,
            used: Some(CodeUse {
                upload_id: tag.0.to_vec(),
                arrival_unix_secs: at,
                key_count: keys,
            }),
        };
        batch.put_cf(self.cf(CODES)?, tag.0, encode(&record));
        Ok(())
    }

    /// Up to `limit` remote keys that arrived in `[from_unix_secs, until_unix_secs)`, strictly
    /// after `after` when given, in arrival order.
    pub fn remote_keys_between(
        &self,
        from_unix_secs: u64,
        until_unix_secs: u64,
        after: Option<Arrival>,
        limit: usize,
    ) -> Result<Vec<RemoteEntry>> {
        let start = Arrival::time_bound(from_unix_secs).to_vec();
        let lower = match after.map(Arrival::successor_key) {
            Some(next) if next > start => next,
            _ => start,
        };
        let upper = Arrival::time_bound(until_unix_secs).to_vec();
        let mut out = Vec::new();
        if lower >= upper {
            return Ok(out);
        }
        let mut iter = self.range(REMOTE, lower, Some(upper))?;
        while out.len() < limit {
            let Some((db_key, value)) = iter.item() else {
                break;
            };
            let record: RemoteKeyRecord = decode(REMOTE, db_key, value)?;
            let origin = record
                .origin_region
                .parse()
                .map_err(|_| corrupt(REMOTE, db_key, "bad origin region"))?;
            out.push(RemoteEntry {
                at: Arrival::from_key(REMOTE, db_key)?,
                key: from_wire(REMOTE, db_key, record.key.as_ref())?,
                origin,
            });
            iter.next();
        }
        iter.status()?;
        Ok(out)
    }

    /// Up to `limit` local keys after `after`, without their visited regions (the EFGS client's
    /// upload read: EFGS gets no visited list from enmesh).
    pub fn local_keys_only_after(
        &self,
        after: Option<Arrival>,
        limit: usize,
    ) -> Result<Vec<(Arrival, DiagnosisKey)>> {
        let lower = after.map_or_else(Vec::new, Arrival::successor_key);
        let mut iter = self.range(LOCAL, lower, None)?;
        let mut out = Vec::new();
        while out.len() < limit {
            let Some((db_key, value)) = iter.item() else {
                break;
            };
            let record: LocalKeyRecord = decode(LOCAL, db_key, value)?;
            out.push((
                Arrival::from_key(LOCAL, db_key)?,
                from_wire(LOCAL, db_key, record.key.as_ref())?,
            ));
            iter.next();
        }
        iter.status()?;
        Ok(out)
    }

    /// Every registered gateway callback: (member country, callback id, URL), by country and id.
    pub fn efgs_callbacks(&self) -> Result<Vec<(String, String, String)>> {
        let prefix = format!("{META_EFGS}{CALLBACK}").into_bytes();
        let mut upper = prefix.clone();
        upper.push(0xff);
        let mut iter = self.range(META, prefix.clone(), Some(upper))?;
        let mut out = Vec::new();
        while let Some((db_key, value)) = iter.item() {
            let rest = db_key
                .get(prefix.len()..)
                .and_then(|rest| std::str::from_utf8(rest).ok())
                .and_then(|rest| rest.split_once('\0'))
                .ok_or_else(|| corrupt(META, db_key, "bad EFGS callback key"))?;
            let url = std::str::from_utf8(value)
                .map_err(|_| corrupt(META, db_key, "EFGS callback URL is not UTF-8"))?;
            out.push((rest.0.to_owned(), rest.1.to_owned(), url.to_owned()));
            iter.next();
        }
        iter.status()?;
        Ok(out)
    }

    /// Registers (or replaces) the gateway callback `id` of member `country`.
    pub fn put_efgs_callback(&self, country: &str, id: &str, url: &str) -> Result<()> {
        let mut batch = WriteBatch::default();
        batch.put_cf(self.cf(META)?, callback_key(country, id), url.as_bytes());
        self.write(batch)
    }

    /// Deletes the gateway callback `id` of member `country` (nothing if there is none).
    pub fn delete_efgs_callback(&self, country: &str, id: &str) -> Result<()> {
        let mut batch = WriteBatch::default();
        batch.delete_cf(self.cf(META)?, callback_key(country, id));
        self.write(batch)
    }

    /// A named EFGS client position (`meta`), raw bytes.
    pub fn efgs_position(&self, name: &str) -> Result<Option<Vec<u8>>> {
        let key = format!("{META_EFGS}{name}");
        Ok(self
            .db
            .get_pinned_cf(self.cf(META)?, key.as_bytes())?
            .map(|v| v.to_vec()))
    }

    /// Sets a named EFGS client position alone.
    pub fn set_efgs_position(&self, name: &str, value: &[u8]) -> Result<()> {
        let mut batch = WriteBatch::default();
        batch.put_cf(
            self.cf(META)?,
            format!("{META_EFGS}{name}").as_bytes(),
            value,
        );
        self.write(batch)
    }

    /// Stores keys downloaded from an EFGS (grouped by origin) as `remote` keys together with
    /// the client's position `name` = `position`, in one atomic write.
    pub fn commit_efgs_download(
        &self,
        groups: &[(RegionId, Vec<DiagnosisKey>)],
        name: &str,
        position: &[u8],
        now: u64,
    ) -> Result<()> {
        let mut clock = self.lock();
        let total = groups.iter().map(|(_, k)| k.len()).sum();
        let (unix_secs, first_seq, next_clock) = clock.allocate(now, total);
        let mut batch = WriteBatch::default();
        let mut seq = first_seq;
        for (origin, keys) in groups {
            self.put_remote_keys(&mut batch, origin, keys, unix_secs, seq)?;
            seq += keys.len() as u64;
        }
        batch.put_cf(
            self.cf(META)?,
            format!("{META_EFGS}{name}").as_bytes(),
            position,
        );
        batch.put_cf(self.cf(META)?, META_CLOCK, next_clock.to_bytes());
        self.write(batch)?;
        *clock = next_clock;
        Ok(())
    }
}
