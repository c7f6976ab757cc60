//! The `exports` column family: the signed GAEN export zips, built once per export window.
//!
//! | key                                          | value                                       |
//! |----------------------------------------------|---------------------------------------------|
//! | `p`                                          | end of the last built window, u64 BE        |
//! | `i` ‖ window start u64 BE ‖ file no. u32 BE  | `0x01` ‖ `ExportIndexRecord` (window end)   |
//! | `z` ‖ window start u64 BE ‖ file no. u32 BE  | `0x01` ‖ `ExportZipRecord` (the zip)        |
//!
//! Windows are built in time order, so the position `p` alone says which are done (including
//! windows without keys, which have no files). Index entries are kept apart from the zips so
//! listing `index.txt` never reads a zip. Window start comes first, so retention is one range
//! delete per prefix. This module never rewrites a built window.

use prost::Message;
use rocksdb::WriteBatch;

use super::Store;
use super::error::Result;
use super::layout::{EXPORTS, be_u64, corrupt};
use super::record::{decode, encode};

const POSITION: &[u8] = b"p";
const INDEX: u8 = b'i';
const ZIP: u8 = b'z';

/// An export file in the index.
#[derive(Clone, PartialEq, Message)]
struct ExportIndexRecord {
    /// The window's end (unix seconds), as in the file name.
    #[prost(uint64, tag = "1")]
    window_end: u64,
}

/// An export file's zip.
#[derive(Clone, PartialEq, Message)]
struct ExportZipRecord {
    /// `export.bin` and `export.sig`, zipped.
    #[prost(bytes = "vec", tag = "1")]
    zip: Vec<u8>,
}

/// One stored export file, as named in `index.txt`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ExportFileId {
    /// Start of its export window (unix seconds).
    pub window_start: u64,
    /// End of its export window.
    pub window_end: u64,
    /// 1-based number of the file in its window.
    pub file_number: u32,
}

fn file_key(prefix: u8, window_start: u64, file_number: u32) -> [u8; 13] {
    let mut key = [0u8; 13];
    key[0] = prefix;
    key[1..9].copy_from_slice(&window_start.to_be_bytes());
    key[9..].copy_from_slice(&file_number.to_be_bytes());
    key
}

impl Store {
    /// The end of the last export window built (`None`: none yet).
    pub fn export_position(&self) -> Result<Option<u64>> {
        let Some(value) = self.db.get_pinned_cf(self.cf(EXPORTS)?, POSITION)? else {
            return Ok(None);
        };
        match (value.len(), be_u64(&value, 0)) {
            (8, Some(end)) => Ok(Some(end)),
            _ => Err(corrupt(EXPORTS, POSITION, "export position is not 8 bytes")),
        }
    }

    /// Stores the zips of window `[window_start, window_end)` (file numbers 1, 2, …, in order)
    /// and moves the position to `window_end`, in one atomic write with its log entry
    /// (`ExportBuilt`, at `now_millis`). Returns `false` and writes nothing if the position
    /// already reached `window_end` (the window was built before).
    pub fn put_export_window(
        &self,
        window_start: u64,
        window_end: u64,
        zips: Vec<Vec<u8>>,
        now_millis: u64,
    ) -> Result<bool> {
        let _guard = self.lock();
        if self.export_position()?.is_some_and(|p| p >= window_end) {
            return Ok(false);
        }
        let cf = self.cf(EXPORTS)?;
        let mut batch = WriteBatch::default();
        let entry = crate::audit::export_built(
            window_start,
            window_end,
            zips.iter().map(Vec::as_slice),
            now_millis,
        );
        for (file_number, zip) in (1u32..).zip(zips) {
            let index = ExportIndexRecord { window_end };
            batch.put_cf(
                cf,
                file_key(INDEX, window_start, file_number),
                encode(&index),
            );
            let record = ExportZipRecord { zip };
            batch.put_cf(
                cf,
                file_key(ZIP, window_start, file_number),
                encode(&record),
            );
        }
        batch.put_cf(cf, POSITION, window_end.to_be_bytes());
        self.write_audited(batch, std::slice::from_ref(&entry))?;
        Ok(true)
    }

    /// Every stored export file, by window start then file number.
    pub fn export_files(&self) -> Result<Vec<ExportFileId>> {
        let mut iter = self.range(EXPORTS, vec![INDEX], Some(vec![INDEX + 1]))?;
        let mut files = Vec::new();
        while let Some((key, value)) = iter.item() {
            let (Some(window_start), Some(number)) = (be_u64(key, 1), key.get(9..13)) else {
                return Err(corrupt(EXPORTS, key, "index key is not i ‖ u64 ‖ u32"));
            };
            let file_number = <[u8; 4]>::try_from(number)
                .map(u32::from_be_bytes)
                .map_err(|_| corrupt(EXPORTS, key, "index key is not i ‖ u64 ‖ u32"))?;
            let record: ExportIndexRecord = decode(EXPORTS, key, value)?;
            files.push(ExportFileId {
                window_start,
                window_end: record.window_end,
                file_number,
            });
            iter.next();
        }
        iter.status()?;
        Ok(files)
    }

    /// The zip of `file`, if it is stored (its window end must match too).
    pub fn export_zip(&self, file: &ExportFileId) -> Result<Option<Vec<u8>>> {
        let cf = self.cf(EXPORTS)?;
        let index_key = file_key(INDEX, file.window_start, file.file_number);
        let Some(value) = self.db.get_pinned_cf(cf, index_key)? else {
            return Ok(None);
        };
        let index: ExportIndexRecord = decode(EXPORTS, &index_key, &value)?;
        if index.window_end != file.window_end {
            return Ok(None);
        }
        let zip_key = file_key(ZIP, file.window_start, file.file_number);
        let value = self
            .db
            .get_pinned_cf(cf, zip_key)?
            .ok_or_else(|| corrupt(EXPORTS, &zip_key, "index entry without its zip"))?;
        let record: ExportZipRecord = decode(EXPORTS, &zip_key, &value)?;
        Ok(Some(record.zip))
    }

    /// Deletes the export files of every window that started before `cutoff_unix_secs` (one
    /// range delete per prefix, one atomic write); keeps the position, so they are never rebuilt.
    /// Returns how many files were deleted. The sweep is logged (`RetentionSwept`, at
    /// `now_millis`) in the same write.
    pub fn purge_exports_before(&self, cutoff_unix_secs: u64, now_millis: u64) -> Result<u64> {
        let upper = file_key(INDEX, cutoff_unix_secs, 0).to_vec();
        let mut iter = self.range(EXPORTS, vec![INDEX], Some(upper))?;
        let mut count = 0u64;
        while iter.valid() {
            count += 1;
            iter.next();
        }
        iter.status()?;
        if count > 0 {
            let cf = self.cf(EXPORTS)?;
            let mut batch = WriteBatch::default();
            for prefix in [INDEX, ZIP] {
                batch.delete_range_cf(
                    cf,
                    [prefix].as_slice(),
                    file_key(prefix, cutoff_unix_secs, 0).as_slice(),
                );
            }
            let entry =
                crate::audit::retention_swept(cutoff_unix_secs, &[(EXPORTS, count)], now_millis);
            self.write_audited(batch, std::slice::from_ref(&entry))?;
        }
        Ok(count)
    }
}
