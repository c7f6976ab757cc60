//! Group commit of uploads: many uploads checked and written in ONE atomic, fsynced write.
//!
//! [`Store::commit_uploads`] applies, to each upload in order, exactly the checks of
//! [`Store::commit_upload`] (code known, unexpired, unused or used by the same upload), seeing
//! the effect of the uploads before it in the same group (so two uploads with one code in one
//! group behave as if committed one after the other). Refused uploads write nothing; accepted
//! ones are written together with the arrival clock in a single `WriteBatch`, so a crash keeps
//! all of the group or none of it. One fsync per group instead of one per upload is what lets
//! ingest reach tens of thousands of keys per second.
//!
//! This module never writes a refused upload, and never stores a code in clear.

use std::collections::HashMap;

use enmesh_protocol::keys::DiagnosisKey;
use enmesh_protocol::region::RegionId;
use rocksdb::WriteBatch;

use super::layout::{CODES, LOCAL, META, META_CLOCK, UPLOADS};
use super::record::{CodeRecord, CodeUse, LocalKeyRecord, UploadRecord, decode, encode};
use super::{Arrival, CodeHash, Result, Store, UploadId, UploadOutcome, UploadRefusal};
use crate::wire::key_to_wire;

/// One upload of a group commit.
#[derive(Debug, Clone, Copy)]
pub struct UploadCommit<'a> {
    /// The hash of the code that authorises it.
    pub code: CodeHash,
    /// Its identity (a retry carries the same id).
    pub upload_id: UploadId,
    /// The validated keys.
    pub keys: &'a [DiagnosisKey],
    /// The regions the uploader visited (home excluded).
    pub visited: &'a [RegionId],
    /// When it was received, unix seconds (code expiry and arrival time).
    pub now: u64,
}

/// What happened to one upload of a group commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Committed {
    /// Stored now.
    New(UploadOutcome),
    /// A retry of an upload stored before (or earlier in the same group): nothing new written.
    Retry(UploadOutcome),
}

impl Committed {
    /// The outcome, new or earlier.
    pub fn outcome(&self) -> UploadOutcome {
        match self {
            Self::New(o) | Self::Retry(o) => *o,
        }
    }
}

impl Store {
    /// Commits a group of uploads in one atomic, fsynced write. The outer error means the write
    /// failed and nothing of the group is stored; otherwise each upload has its own result, in
    /// order: [`Committed`], or an [`UploadRefusal`] (nothing of it written).
    pub fn commit_uploads(
        &self,
        uploads: &[UploadCommit<'_>],
    ) -> Result<Vec<std::result::Result<Committed, UploadRefusal>>> {
        self.commit_uploads_certified(uploads, &[])
    }

    /// [`Self::commit_uploads`] where some uploads are authorised by a verification
    /// certificate instead of an issued code: `certified[i] = Some(expiry)` makes upload `i`'s
    /// code hash (the hash of its certificate) a code valid until `expiry` if the store does not
    /// hold it yet, created in the same write that uses it. So a certificate authorises one key
    /// set, and a retry of the same certificate with the same keys is answered as a retry.
    pub fn commit_uploads_certified(
        &self,
        uploads: &[UploadCommit<'_>],
        certified: &[Option<u64>],
    ) -> Result<Vec<std::result::Result<Committed, UploadRefusal>>> {
        let mut clock = self.lock();
        let codes = self.cf(CODES)?;
        let local = self.cf(LOCAL)?;
        let uploads_cf = self.cf(UPLOADS)?;
        let mut next_clock = *clock;
        // Code records as this group leaves them, so later uploads see earlier ones.
        let mut touched: HashMap<CodeHash, CodeRecord> = HashMap::new();
        let mut batch = WriteBatch::default();
        let mut results = Vec::with_capacity(uploads.len());
        for (i, upload) in uploads.iter().enumerate() {
            let certificate_expiry = certified.get(i).copied().flatten();
            let key_count = match u32::try_from(upload.keys.len()) {
                Ok(n) => n,
                Err(_) => {
                    results.push(Err(UploadRefusal::TooManyKeys(upload.keys.len())));
                    continue;
                }
            };
            let record = match touched.get(&upload.code) {
                Some(record) => record.clone(),
                None => match self.db.get_pinned_cf(codes, upload.code.0)? {
                    Some(value) => decode(CODES, &upload.code.0, &value)?,
                    None => match certificate_expiry {
                        Some(expires_unix_secs) => CodeRecord {
                            expires_unix_secs,
                            used: None,
                        },
                        None => {
                            results.push(Err(UploadRefusal::CodeUnknown));
                            continue;
                        }
                    },
                },
            };
            if let Some(used) = &record.used {
                results.push(
                    if used.upload_id.as_slice() == upload.upload_id.0.as_slice() {
                        Ok(Committed::Retry(UploadOutcome {
                            upload_id: upload.upload_id,
                            arrival_unix_secs: used.arrival_unix_secs,
                            key_count: used.key_count,
                        }))
                    } else {
                        Err(UploadRefusal::CodeUsed)
                    },
                );
                continue;
            }
            if upload.now >= record.expires_unix_secs {
                results.push(Err(UploadRefusal::CodeExpired {
                    expires_unix_secs: record.expires_unix_secs,
                    now_unix_secs: upload.now,
                }));
                continue;
            }
            // One seq for the upload record, then one per key (as `commit_upload`).
            let (unix_secs, upload_seq, after) =
                next_clock.allocate(upload.now, upload.keys.len() + 1);
            next_clock = after;
            for (seq, key) in (upload_seq + 1..).zip(upload.keys) {
                let value = LocalKeyRecord {
                    key: Some(key_to_wire(key)),
                    upload_seq,
                };
                batch.put_cf(local, Arrival { unix_secs, seq }.to_key(), encode(&value));
            }
            let value = UploadRecord {
                visited_regions: upload.visited.iter().map(ToString::to_string).collect(),
                key_count,
                code_hash: upload.code.0.to_vec(),
                upload_id: upload.upload_id.0.to_vec(),
            };
            let at = Arrival {
                unix_secs,
                seq: upload_seq,
            };
            batch.put_cf(uploads_cf, at.to_key(), encode(&value));
            let used = CodeRecord {
                expires_unix_secs: record.expires_unix_secs,
                used: Some(CodeUse {
                    upload_id: upload.upload_id.0.to_vec(),
                    arrival_unix_secs: unix_secs,
                    key_count,
                }),
            };
            batch.put_cf(codes, upload.code.0, encode(&used));
            touched.insert(upload.code, used);
            results.push(Ok(Committed::New(UploadOutcome {
                upload_id: upload.upload_id,
                arrival_unix_secs: unix_secs,
                key_count,
            })));
        }
        if !batch.is_empty() {
            batch.put_cf(self.cf(META)?, META_CLOCK, next_clock.to_bytes());
            self.write(batch)?;
            *clock = next_clock;
        }
        Ok(results)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use enmesh_protocol::gaen::Tek;
    use enmesh_protocol::interval::{IntervalNumber, RollingPeriod};
    use enmesh_protocol::keys::{ReportType, TransmissionRisk};

    const NOW: u64 = 1_700_000_000;

    fn keys(seed: u8, n: u8) -> Vec<DiagnosisKey> {
        (0..n)
            .map(|i| DiagnosisKey {
                key: Tek([seed ^ i; 16]),
                rolling_start: IntervalNumber(2_833_000 + u32::from(i) * 144),
                rolling_period: RollingPeriod::FULL_DAY,
                transmission_risk: TransmissionRisk::UNSET,
                report_type: ReportType::ConfirmedTest,
                days_since_onset: None,
            })
            .collect()
    }

    #[test]
    fn a_group_behaves_like_uploads_committed_one_after_the_other() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let (a, b, expired) = (CodeHash::of("A"), CodeHash::of("B"), CodeHash::of("X"));
        store.put_code(&a, NOW + 10).unwrap().unwrap();
        store.put_code(&b, NOW + 10).unwrap().unwrap();
        store.put_code(&expired, NOW).unwrap().unwrap();
        let (k1, k2, k3) = (keys(1, 3), keys(2, 2), keys(3, 1));
        let visited = ["FR".parse().unwrap()];
        let commit = |code, keys: &'static [DiagnosisKey]| UploadCommit {
            code,
            upload_id: UploadId::of_keys(keys),
            keys,
            visited: &[],
            now: NOW,
        };
        let (k1, k2, k3): (&'static [_], &'static [_], &'static [_]) =
            (k1.leak(), k2.leak(), k3.leak());
        let group = [
            UploadCommit {
                visited: &visited,
                ..commit(a, k1)
            },
            commit(a, k2),                 // same code, other keys: used
            commit(a, k1),                 // same code, same keys: a retry
            commit(b, k2),                 // another code: stored
            commit(CodeHash::of("?"), k3), // unknown
            commit(expired, k3),           // expired
        ];
        let results = store.commit_uploads(&group).unwrap();
        assert!(matches!(results[0], Ok(Committed::New(o)) if o.key_count == 3));
        assert!(matches!(results[1], Err(UploadRefusal::CodeUsed)));
        assert!(matches!(results[2], Ok(Committed::Retry(o)) if o.key_count == 3));
        assert!(matches!(results[3], Ok(Committed::New(o)) if o.key_count == 2));
        assert!(matches!(results[4], Err(UploadRefusal::CodeUnknown)));
        assert!(matches!(results[5], Err(UploadRefusal::CodeExpired { .. })));
        let stored = store.local_keys_after(None, 100).unwrap();
        assert_eq!(stored.len(), 5);
        assert_eq!(stored[0].visited, visited);
        // And across groups: the single-upload commit sees the group's writes.
        assert!(matches!(
            store.commit_upload(&b, &UploadId::of_keys(k3), k3, &[], NOW),
            Ok(Err(UploadRefusal::CodeUsed))
        ));
        drop(store);
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.local_keys_after(None, 100).unwrap().len(), 5);
    }
}
