//! Longest-prefix match as a sorted table of non-overlapping ranges.
//!
//! CIDR blocks either nest or are disjoint, so flattening them gives the address line cut
//! into ranges, each owned by the most specific block covering it (or by none). A lookup is
//! then one binary search. IPv4 adds a 65,536-entry index on the top 16 bits, so the search
//! runs over the few ranges that start inside one /16: ten million lookups against 100,000
//! blocks take a fraction of a second (see the `lookup_bench` example).

/// The label of a range no block covers.
pub(crate) const NONE: u32 = u32::MAX;

/// One distinct network: its first and last address (as integers of its family), its
/// prefix length and the group it stands for.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Block {
    pub start: u128,
    pub end: u128,
    pub prefix: u8,
    pub group: u32,
}

/// Flattens `blocks` (distinct networks of one family whose largest address is `max`)
/// into range starts and owners, and each group's enclosing group (`NONE` at the top).
fn flatten(mut blocks: Vec<Block>, max: u128, groups: usize) -> (Vec<u128>, Vec<u32>, Vec<u32>) {
    blocks.sort_by_key(|block| (block.start, block.prefix));
    let mut starts: Vec<u128> = Vec::with_capacity(blocks.len() * 2);
    let mut labels: Vec<u32> = Vec::with_capacity(blocks.len() * 2);
    let mut parents = vec![NONE; groups];
    let mut emit = |start: u128, label: u32| {
        if starts.last() == Some(&start) {
            if let Some(last) = labels.last_mut() {
                *last = label;
            }
        } else if labels.last() != Some(&label) {
            starts.push(start);
            labels.push(label);
        }
    };
    let mut stack: Vec<Block> = Vec::new();
    let close = |stack: &mut Vec<Block>, emit: &mut dyn FnMut(u128, u32)| {
        if let Some(top) = stack.pop()
            && top.end < max
        {
            emit(top.end + 1, stack.last().map_or(NONE, |outer| outer.group));
        }
    };
    for block in blocks {
        while stack.last().is_some_and(|top| top.end < block.start) {
            close(&mut stack, &mut emit);
        }
        if let Some(parent) = parents.get_mut(block.group as usize) {
            *parent = stack.last().map_or(NONE, |outer| outer.group);
        }
        emit(block.start, block.group);
        stack.push(block);
    }
    while !stack.is_empty() {
        close(&mut stack, &mut emit);
    }
    (starts, labels, parents)
}

/// The IPv4 table.
#[derive(Debug, Default)]
pub(crate) struct V4Table {
    /// Range starts with their owners, side by side so that a lookup touches one line.
    ranges: Vec<(u32, u32)>,
    /// `slots[hi]`: index of the first range starting at or after `hi << 16`.
    slots: Vec<u32>,
}

impl V4Table {
    /// Returns the table and each group's enclosing group.
    pub(crate) fn build(blocks: Vec<Block>, groups: usize) -> (V4Table, Vec<u32>) {
        let (starts, labels, parents) = flatten(blocks, u128::from(u32::MAX), groups);
        let ranges: Vec<(u32, u32)> = starts
            .into_iter()
            .map(|start| u32::try_from(start).unwrap_or(u32::MAX))
            .zip(labels)
            .collect();
        let mut slots = Vec::with_capacity(65_537);
        let mut index = 0usize;
        for hi in 0..=65_536u64 {
            let floor = hi << 16;
            while index < ranges.len() && u64::from(ranges[index].0) < floor {
                index += 1;
            }
            slots.push(u32::try_from(index).unwrap_or(u32::MAX));
        }
        (V4Table { ranges, slots }, parents)
    }

    /// The group owning `address`, or `NONE`.
    #[inline]
    pub(crate) fn get(&self, address: u32) -> u32 {
        let hi = (address >> 16) as usize;
        let (Some(&low), Some(&high)) = (self.slots.get(hi), self.slots.get(hi + 1)) else {
            return NONE;
        };
        let (low, high) = (low as usize, high as usize);
        let within = self.ranges.get(low..high).map_or(0, |ranges| {
            ranges.partition_point(|&(start, _)| start <= address)
        });
        match (low + within).checked_sub(1) {
            Some(index) => self.ranges.get(index).map_or(NONE, |&(_, label)| label),
            None => NONE,
        }
    }

    pub(crate) fn ranges(&self) -> usize {
        self.ranges.len()
    }

    /// Owners of many addresses. Each step is done for the whole batch before the next, so
    /// the memory reads of different addresses overlap instead of waiting one after another.
    pub(crate) fn get_batch(&self, addresses: &[u32], owners: &mut [u32]) {
        let mut bounds = [(0usize, 0usize); BATCH];
        for (chunk, out) in addresses.chunks(BATCH).zip(owners.chunks_mut(BATCH)) {
            for (address, bound) in chunk.iter().zip(bounds.iter_mut()) {
                let hi = (address >> 16) as usize;
                *bound = match (self.slots.get(hi), self.slots.get(hi + 1)) {
                    (Some(&low), Some(&high)) => (low as usize, high as usize),
                    _ => (0, 0),
                };
            }
            for ((address, &(low, high)), owner) in chunk.iter().zip(&bounds).zip(out.iter_mut()) {
                let within = self.ranges.get(low..high).map_or(0, |ranges| {
                    ranges.partition_point(|&(start, _)| start <= *address)
                });
                *owner = match (low + within).checked_sub(1) {
                    Some(index) => self.ranges.get(index).map_or(NONE, |&(_, label)| label),
                    None => NONE,
                };
            }
        }
    }
}

/// Addresses handled together by [`V4Table::get_batch`].
pub(crate) const BATCH: usize = 16;

/// The IPv6 table: few blocks in practice, so a plain binary search.
#[derive(Debug, Default)]
pub(crate) struct V6Table {
    starts: Vec<u128>,
    labels: Vec<u32>,
}

impl V6Table {
    pub(crate) fn build(blocks: Vec<Block>, groups: usize) -> (V6Table, Vec<u32>) {
        let (starts, labels, parents) = flatten(blocks, u128::MAX, groups);
        (V6Table { starts, labels }, parents)
    }

    #[inline]
    pub(crate) fn get(&self, address: u128) -> u32 {
        let position = self.starts.partition_point(|&start| start <= address);
        match position.checked_sub(1) {
            Some(index) => self.labels.get(index).copied().unwrap_or(NONE),
            None => NONE,
        }
    }

    pub(crate) fn ranges(&self) -> usize {
        self.starts.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(start: u32, prefix: u8, group: u32) -> Block {
        let size = 1u128 << (32 - prefix);
        let start = u128::from(start) & !(size - 1);
        Block {
            start,
            end: start + size - 1,
            prefix,
            group,
        }
    }

    #[test]
    fn nested_blocks_give_most_specific_owner_and_parents() {
        let blocks = vec![
            block(0x0A00_0000, 8, 0),  // 10.0.0.0/8
            block(0x0A01_0000, 16, 1), // 10.1.0.0/16
            block(0x0A01_0100, 24, 2), // 10.1.1.0/24
            block(0x0B00_0000, 8, 3),  // 11.0.0.0/8
        ];
        let (table, parents) = V4Table::build(blocks, 4);
        assert_eq!(table.get(0x0900_0000), NONE);
        assert_eq!(table.get(0x0A00_0001), 0);
        assert_eq!(table.get(0x0A01_0001), 1);
        assert_eq!(table.get(0x0A01_01FF), 2);
        assert_eq!(table.get(0x0A01_0200), 1);
        assert_eq!(table.get(0x0A02_0000), 0);
        assert_eq!(table.get(0x0B12_3456), 3);
        assert_eq!(table.get(0x0C00_0000), NONE);
        assert_eq!(parents, vec![NONE, 0, 1, NONE]);
    }

    #[test]
    fn whole_space_block_reaches_the_last_address() {
        let (table, _) = V4Table::build(vec![block(0, 0, 0), block(u32::MAX, 32, 1)], 2);
        assert_eq!(table.get(0), 0);
        assert_eq!(table.get(u32::MAX - 1), 0);
        assert_eq!(table.get(u32::MAX), 1);
    }
}
