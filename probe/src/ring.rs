//! The kernel's perf mmap ring buffer, read without parsing.
//!
//! The mapping is one header page (`perf_event_mmap_page`) followed by a
//! power-of-two number of data pages. The kernel advances `data_head` as it
//! writes; we read records between our `data_tail` and `data_head`, then
//! publish the new tail. `data_head` is read with acquire ordering so that the
//! record bytes written before it are visible, and `data_tail` is stored with
//! release ordering so that the kernel does not overwrite bytes we are still
//! copying. Records may wrap around the end of the data area; [`RingBuffer::
//! drain_into`] copies them out as one contiguous byte run.

use crate::sys::{self, MmapPage};
use crate::Result;
use std::os::fd::BorrowedFd;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU64, Ordering};

/// A mapped perf ring buffer.
#[derive(Debug)]
pub struct RingBuffer {
    base: NonNull<u8>,
    map_len: usize,
    data_offset: usize,
    data_size: usize,
}

// SAFETY: the mapping is owned by this value; the kernel is the only other
// party and synchronises through data_head / data_tail.
unsafe impl Send for RingBuffer {}

impl RingBuffer {
    /// Maps the ring buffer of `fd` with `data_pages` data pages (a power of two).
    pub fn map(fd: BorrowedFd<'_>, data_pages: usize) -> Result<Self> {
        let page = sys::page_size();
        let map_len = (data_pages + 1) * page;
        let base = sys::mmap_ring(fd, map_len)?;
        // Kernels since 4.1 publish the data area's offset and size in the
        // header page; older ones leave them zero and use the classic layout.
        let header = base.as_ptr().cast::<MmapPage>();
        // SAFETY: the first page of a successful mapping is the header page.
        let (offset, size) =
            unsafe { ((*header).data_offset as usize, (*header).data_size as usize) };
        let (data_offset, data_size) = if size == 0 {
            (page, data_pages * page)
        } else {
            (offset, size)
        };
        Ok(RingBuffer {
            base,
            map_len,
            data_offset,
            data_size,
        })
    }

    /// Bytes in the data area.
    pub fn capacity(&self) -> usize {
        self.data_size
    }

    fn head_and_tail(&self) -> (&AtomicU64, &AtomicU64) {
        let header = self.base.as_ptr().cast::<MmapPage>();
        // SAFETY: the header page lives as long as `self`; the two fields are
        // 8-byte aligned u64s shared with the kernel, which we only access
        // atomically.
        unsafe {
            (
                AtomicU64::from_ptr(std::ptr::addr_of_mut!((*header).data_head)),
                AtomicU64::from_ptr(std::ptr::addr_of_mut!((*header).data_tail)),
            )
        }
    }

    /// Bytes waiting to be read.
    pub fn pending(&self) -> usize {
        let (head, tail) = self.head_and_tail();
        head.load(Ordering::Acquire)
            .wrapping_sub(tail.load(Ordering::Relaxed)) as usize
    }

    /// Appends every waiting byte to `out` (in record order, unwrapped) and
    /// releases the space to the kernel. Returns the number of bytes copied.
    pub fn drain_into(&mut self, out: &mut Vec<u8>) -> usize {
        let (head_atomic, tail_atomic) = self.head_and_tail();
        let head = head_atomic.load(Ordering::Acquire);
        let tail = tail_atomic.load(Ordering::Relaxed);
        let available = head.wrapping_sub(tail) as usize;
        if available == 0 {
            return 0;
        }
        // The kernel never lets head run more than data_size ahead of tail.
        let available = available.min(self.data_size);
        let start = (tail as usize) & (self.data_size - 1);
        let first = available.min(self.data_size - start);
        // SAFETY: [data_offset, data_offset + data_size) lies inside the
        // mapping, and the ranges below stay within it; the kernel does not
        // write to bytes between tail and head until we publish a new tail.
        unsafe {
            let data = self.base.as_ptr().add(self.data_offset);
            out.extend_from_slice(std::slice::from_raw_parts(data.add(start), first));
            if first < available {
                out.extend_from_slice(std::slice::from_raw_parts(data, available - first));
            }
        }
        tail_atomic.store(tail.wrapping_add(available as u64), Ordering::Release);
        available
    }
}

impl Drop for RingBuffer {
    fn drop(&mut self) {
        // SAFETY: base/map_len come from one successful mmap_ring, and no
        // borrow of the mapping outlives `self`.
        unsafe { sys::munmap_ring(self.base, self.map_len) }
    }
}
