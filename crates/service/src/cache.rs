//! Finished results by key, least recently used dropped first once over a byte bound.

use std::collections::HashMap;
use std::sync::Arc;

use crate::table::Table;

/// Results larger than this share of the cache are not kept.
const LARGEST_SHARE: usize = 4;

#[derive(Debug)]
pub(crate) struct Cache {
    limit: usize,
    pub(crate) bytes: usize,
    clock: u64,
    entries: HashMap<String, (Arc<Table>, u64)>,
}

impl Cache {
    pub(crate) fn new(limit: usize) -> Cache {
        Cache {
            limit,
            bytes: 0,
            clock: 0,
            entries: HashMap::new(),
        }
    }

    fn size(key: &str, table: &Table) -> usize {
        key.len() + table.bytes
    }

    pub(crate) fn get(&mut self, key: &str) -> Option<Arc<Table>> {
        self.clock += 1;
        let clock = self.clock;
        self.entries.get_mut(key).map(|(table, used)| {
            *used = clock;
            table.clone()
        })
    }

    pub(crate) fn put(&mut self, key: String, table: Arc<Table>) {
        let size = Cache::size(&key, &table);
        if size > self.limit / LARGEST_SHARE {
            return;
        }
        self.clock += 1;
        if let Some((old, _)) = self.entries.insert(key.clone(), (table, self.clock)) {
            self.bytes -= Cache::size(&key, &old);
        }
        self.bytes += size;
        while self.bytes > self.limit {
            let Some(oldest) = self
                .entries
                .iter()
                .min_by_key(|(_, (_, used))| *used)
                .map(|(k, _)| k.clone())
            else {
                break;
            };
            if let Some((table, _)) = self.entries.remove(&oldest) {
                self.bytes -= Cache::size(&oldest, &table);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mailscope_engine::exec::QueryResult;

    fn sized(bytes: usize) -> Arc<Table> {
        Arc::new(Table {
            result: QueryResult {
                columns: vec![],
                rows: vec![],
                warnings: vec![],
                input: Default::default(),
            },
            types: vec![],
            bytes,
        })
    }

    #[test]
    fn the_cache_stays_under_its_bound_dropping_the_least_recently_used() {
        let mut cache = Cache::new(1000);
        cache.put("a".into(), sized(200));
        cache.put("b".into(), sized(200));
        cache.put("c".into(), sized(200));
        assert!(cache.get("a").is_some());
        cache.put("d".into(), sized(200));
        cache.put("e".into(), sized(200));
        assert!(cache.bytes <= 1000, "{}", cache.bytes);
        assert!(cache.get("a").is_some(), "recently used");
        assert!(cache.get("b").is_none(), "least recently used");
        cache.put("huge".into(), sized(600));
        assert!(cache.get("huge").is_none(), "larger than a quarter");
    }

    #[test]
    fn a_cache_of_no_bytes_keeps_nothing() {
        let mut cache = Cache::new(0);
        cache.put("a".into(), sized(1));
        assert!(cache.get("a").is_none());
        assert_eq!(cache.bytes, 0);
    }
}
