//! A fixed-length array of plain values that, once it is large, lives in its own anonymous
//! mapping advised for transparent huge pages (`MADV_HUGEPAGE`, which Linux honours when THP is
//! `always` or `madvise`). A random lookup in a table of a hundred megabytes misses the TLB as
//! well as the caches; with 2 MiB pages instead of 4 KiB the page walk mostly hits, which is
//! what the routing index's tail latency is made of (see `server/benches/lcr.rs`).
//!
//! Small arrays, and any platform or failure where the mapping is refused, use a `Vec`.

use std::ops::{Deref, DerefMut};

use bytemuck::Pod;
use memmap2::MmapMut;

/// Below this many bytes a plain `Vec` is as good: the array spans a handful of pages.
const MAPPED_FROM: usize = 2 << 20;

pub struct HugeArray<T: Pod> {
    storage: Storage<T>,
}

enum Storage<T> {
    Heap(Vec<T>),
    /// `len` values at the start of the mapping.
    Mapped {
        map: MmapMut,
        len: usize,
    },
}

impl<T: Pod> HugeArray<T> {
    /// `len` zeroed values.
    pub fn zeroed(len: usize) -> Self {
        let bytes = len.saturating_mul(size_of::<T>());
        if bytes >= MAPPED_FROM
            && size_of::<T>() > 0
            && let Ok(map) = MmapMut::map_anon(bytes)
        {
            // Advice only: where it is refused, the pages are small and all still works.
            #[cfg(target_os = "linux")]
            let _ = map.advise(memmap2::Advice::HugePage);
            return HugeArray { storage: Storage::Mapped { map, len } };
        }
        HugeArray { storage: Storage::Heap(vec![T::zeroed(); len]) }
    }

    /// A copy of `values`.
    pub fn from_slice(values: &[T]) -> Self {
        let mut a = Self::zeroed(values.len());
        a.copy_from_slice(values);
        a
    }

    /// The bytes it holds (a mapping is rounded up to whole pages by the kernel).
    pub fn heap_bytes(&self) -> usize {
        match &self.storage {
            Storage::Heap(v) => v.capacity() * size_of::<T>(),
            Storage::Mapped { map, .. } => map.len(),
        }
    }
}

impl<T: Pod> Default for HugeArray<T> {
    fn default() -> Self {
        HugeArray { storage: Storage::Heap(Vec::new()) }
    }
}

impl<T: Pod> Deref for HugeArray<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        match &self.storage {
            Storage::Heap(v) => v,
            Storage::Mapped { map, len } => &bytemuck::cast_slice(&map[..])[..*len],
        }
    }
}

impl<T: Pod> DerefMut for HugeArray<T> {
    fn deref_mut(&mut self) -> &mut [T] {
        match &mut self.storage {
            Storage::Heap(v) => v,
            Storage::Mapped { map, len } => &mut bytemuck::cast_slice_mut(&mut map[..])[..*len],
        }
    }
}

impl<T: Pod> Clone for HugeArray<T> {
    fn clone(&self) -> Self {
        Self::from_slice(self)
    }
}

impl<T: Pod + std::fmt::Debug> std::fmt::Debug for HugeArray<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HugeArray").field("len", &self.len()).field("heap_bytes", &self.heap_bytes()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_and_large_arrays_read_back_what_was_written() {
        for len in [0, 1, 1000, MAPPED_FROM / 8 + 3] {
            let mut a = HugeArray::<u64>::zeroed(len);
            assert_eq!(a.len(), len);
            assert!(a.iter().all(|&x| x == 0));
            for (i, x) in a.iter_mut().enumerate() {
                *x = i as u64 * 3;
            }
            let b = a.clone();
            assert_eq!(&a[..], &b[..]);
            assert!(a.heap_bytes() >= len * 8);
        }
        let mapped = HugeArray::<u64>::from_slice(&vec![7u64; MAPPED_FROM / 8]);
        assert!(matches!(mapped.storage, Storage::Mapped { .. }));
        assert_eq!(mapped.iter().sum::<u64>(), 7 * (MAPPED_FROM / 8) as u64);
    }
}
