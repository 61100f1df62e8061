//! Building `perf_event_attr` values.
//!
//! [`EventAttr`] wraps the kernel structure with named setters, so the
//! collector never touches bindgen bitfields, and exports the exact bytes the
//! kernel saw, which strobe stores in its files so that readers decode records
//! with the attribute that produced them.

use crate::sys::RawAttr;
use perf_event_open_sys::bindings as b;

/// The attribute size strobe passes to the kernel and stores in files
/// (`PERF_ATTR_SIZE_VER8`, supported since Linux 6.3 and accepted by older
/// kernels as long as the newer fields are zero).
pub const ATTR_SIZE: usize = b::PERF_ATTR_SIZE_VER8 as usize;

/// `PERF_TYPE_SOFTWARE`.
pub const PERF_TYPE_SOFTWARE: u32 = perf_event_open_sys::bindings::PERF_TYPE_SOFTWARE;
/// `PERF_TYPE_HARDWARE`.
pub const PERF_TYPE_HARDWARE: u32 = perf_event_open_sys::bindings::PERF_TYPE_HARDWARE;
/// `PERF_TYPE_HW_CACHE`.
pub const PERF_TYPE_HW_CACHE: u32 = perf_event_open_sys::bindings::PERF_TYPE_HW_CACHE;
/// `PERF_TYPE_RAW`: the CPU's own PMU, by raw config.
pub const PERF_TYPE_RAW: u32 = perf_event_open_sys::bindings::PERF_TYPE_RAW;
/// `PERF_TYPE_TRACEPOINT`.
pub const PERF_TYPE_TRACEPOINT: u32 = perf_event_open_sys::bindings::PERF_TYPE_TRACEPOINT;

/// `PERF_SAMPLE_*` bits strobe uses.
pub mod sample {
    use perf_event_open_sys::bindings as b;
    /// Instruction pointer.
    pub const IP: u64 = b::PERF_SAMPLE_IP as u64;
    /// Process and thread id.
    pub const TID: u64 = b::PERF_SAMPLE_TID as u64;
    /// Timestamp.
    pub const TIME: u64 = b::PERF_SAMPLE_TIME as u64;
    /// Sampled address.
    pub const ADDR: u64 = b::PERF_SAMPLE_ADDR as u64;
    /// Event id.
    pub const ID: u64 = b::PERF_SAMPLE_ID as u64;
    /// Stream id.
    pub const STREAM_ID: u64 = b::PERF_SAMPLE_STREAM_ID as u64;
    /// CPU number.
    pub const CPU: u64 = b::PERF_SAMPLE_CPU as u64;
    /// Sample period.
    pub const PERIOD: u64 = b::PERF_SAMPLE_PERIOD as u64;
    /// Call chain.
    pub const CALLCHAIN: u64 = b::PERF_SAMPLE_CALLCHAIN as u64;
    /// The raw tracepoint payload.
    pub const RAW: u64 = b::PERF_SAMPLE_RAW as u64;
    /// Event id at a fixed position in every record.
    pub const IDENTIFIER: u64 = b::PERF_SAMPLE_IDENTIFIER as u64;
}

/// `PERF_FORMAT_*` bits: what reading a counter returns.
pub mod read_format {
    use perf_event_open_sys::bindings as b;
    /// The time the event was enabled.
    pub const TOTAL_TIME_ENABLED: u64 = b::PERF_FORMAT_TOTAL_TIME_ENABLED as u64;
    /// The time it was running on the PMU.
    pub const TOTAL_TIME_RUNNING: u64 = b::PERF_FORMAT_TOTAL_TIME_RUNNING as u64;
}

/// A `perf_event_attr` under construction.
#[derive(Clone, Copy)]
pub struct EventAttr {
    raw: RawAttr,
}

impl std::fmt::Debug for EventAttr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventAttr")
            .field("type", &self.raw.type_)
            .field("config", &self.raw.config)
            .field("sample_type", &format_args!("{:#x}", self.raw.sample_type))
            .finish_non_exhaustive()
    }
}

impl EventAttr {
    /// A disabled attribute for event `type_`/`config`, with nothing sampled.
    pub fn new(type_: u32, config: u64) -> Self {
        // SAFETY: perf_event_attr is plain old data; all-zero is its documented default.
        let mut raw: RawAttr = unsafe { std::mem::zeroed() };
        raw.type_ = type_;
        raw.size = ATTR_SIZE as u32;
        raw.config = config;
        raw.set_disabled(1);
        EventAttr { raw }
    }

    /// The event type (`PERF_TYPE_*`).
    pub fn type_(&self) -> u32 {
        self.raw.type_
    }

    /// The event config.
    pub fn config(&self) -> u64 {
        self.raw.config
    }

    /// The `PERF_SAMPLE_*` bits.
    pub fn sample_type(&self) -> u64 {
        self.raw.sample_type
    }

    /// Samples `hz` times a second (the kernel adjusts the period).
    pub fn sample_frequency(mut self, hz: u64) -> Self {
        self.raw.set_freq(1);
        self.raw.__bindgen_anon_1.sample_freq = hz;
        self
    }

    /// Samples once every `period` events.
    pub fn sample_period(mut self, period: u64) -> Self {
        self.raw.set_freq(0);
        self.raw.__bindgen_anon_1.sample_period = period;
        self
    }

    /// Sets the `PERF_SAMPLE_*` bits.
    pub fn sample_type_bits(mut self, bits: u64) -> Self {
        self.raw.sample_type = bits;
        self
    }

    /// Puts the sample-id fields on every record, not just samples.
    pub fn sample_id_all(mut self, on: bool) -> Self {
        self.raw.set_sample_id_all(on as u64);
        self
    }

    /// Excludes user-space (`:k`) or kernel (`:u`) execution.
    pub fn exclude(mut self, user: bool, kernel: bool) -> Self {
        self.raw.set_exclude_user(user as u64);
        self.raw.set_exclude_kernel(kernel as u64);
        self
    }

    /// Excludes the hypervisor, guests or the host (`:h`, `:G`, `:H` modifiers).
    pub fn exclude_virtual(mut self, hv: bool, guest: bool, host: bool) -> Self {
        self.raw.set_exclude_hv(hv as u64);
        self.raw.set_exclude_guest(guest as u64);
        self.raw.set_exclude_host(host as u64);
        self
    }

    /// Sets `config1` and `config2`, the extra words some PMU events need
    /// (Intel's offcore response mask and load-latency threshold, ARM's
    /// long-counter bit).
    pub fn extra_config(mut self, config1: u64, config2: u64) -> Self {
        self.raw.__bindgen_anon_3.config1 = config1;
        self.raw.__bindgen_anon_4.config2 = config2;
        self
    }

    /// The skid constraint of a sampled event (`:p` modifiers, 0-3).
    pub fn precise_ip(mut self, level: u8) -> Self {
        self.raw.set_precise_ip(u64::from(level.min(3)));
        self
    }

    /// What `read()` on the event returns (`PERF_FORMAT_*` bits).
    pub fn read_format(mut self, bits: u64) -> Self {
        self.raw.read_format = bits;
        self
    }

    /// The `config1` word.
    pub fn config1(&self) -> u64 {
        // SAFETY: the union holds a u64 in every variant.
        unsafe { self.raw.__bindgen_anon_3.config1 }
    }

    /// Whether user-space execution is excluded.
    pub fn excludes_user(&self) -> bool {
        self.raw.exclude_user() != 0
    }

    /// Whether kernel execution is excluded.
    pub fn excludes_kernel(&self) -> bool {
        self.raw.exclude_kernel() != 0
    }

    /// Follows child tasks created after the event is opened.
    pub fn inherit(mut self, on: bool) -> Self {
        self.raw.set_inherit(on as u64);
        self
    }

    /// Enables the event when the monitored task calls exec.
    pub fn enable_on_exec(mut self, on: bool) -> Self {
        self.raw.set_enable_on_exec(on as u64);
        self
    }

    /// Asks for the side-band records: COMM (with exec), MMAP2, FORK and EXIT.
    /// `build_id` asks the kernel to put build-ids in MMAP2 (Linux 5.12+).
    pub fn track_side_band(mut self, build_id: bool) -> Self {
        self.raw.set_mmap(1);
        self.raw.set_mmap2(1);
        self.raw.set_comm(1);
        self.raw.set_comm_exec(1);
        self.raw.set_task(1);
        self.raw.set_build_id(build_id as u64);
        self
    }

    /// Whether MMAP2 records will carry build-ids.
    pub fn wants_build_id(&self) -> bool {
        self.raw.build_id() != 0
    }

    /// Timestamps from `clockid` (e.g. `CLOCK_MONOTONIC`) instead of the perf clock.
    pub fn clock(mut self, clockid: i32) -> Self {
        self.raw.set_use_clockid(1);
        self.raw.clockid = clockid;
        self
    }

    /// Wakes a poller when `bytes` of records are waiting in the ring buffer.
    pub fn wakeup_watermark(mut self, bytes: u32) -> Self {
        self.raw.set_watermark(1);
        self.raw.__bindgen_anon_2.wakeup_watermark = bytes;
        self
    }

    /// The raw kernel structure.
    pub fn raw(&self) -> &RawAttr {
        &self.raw
    }

    /// The attribute as the kernel sees it: `ATTR_SIZE` little-endian bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let full = std::mem::size_of::<RawAttr>();
        // SAFETY: RawAttr is plain old data of `full` bytes; we only read it.
        let bytes =
            unsafe { std::slice::from_raw_parts((&self.raw as *const RawAttr).cast::<u8>(), full) };
        bytes[..ATTR_SIZE.min(full)].to_vec()
    }
}

/// Where the timestamp sits in records produced with a given `sample_type`
/// and `sample_id_all`, so the collector can read it without decoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SampleLayout {
    /// Byte offset of the time field from the start of a SAMPLE record
    /// (header included), if samples carry a time.
    pub sample_time_offset: Option<usize>,
    /// Byte offset of the time field counted back from the end of any other
    /// record, if the sample-id trailer carries a time.
    pub other_time_from_end: Option<usize>,
    /// Size of the sample-id trailer appended to non-sample records.
    pub trailer_size: usize,
    /// Byte offset of the instruction pointer in a SAMPLE record.
    pub sample_ip_offset: Option<usize>,
    /// Byte offset of the call chain (`nr`, then `nr` addresses) in a SAMPLE
    /// record, when it sits at a fixed offset (no READ values before it).
    pub sample_callchain_offset: Option<usize>,
}

impl SampleLayout {
    /// Computes the layout for `sample_type` with `sample_id_all` set.
    pub fn new(sample_type: u64) -> Self {
        use sample::*;
        let has = |bit| sample_type & bit != 0;
        // SAMPLE records: IDENTIFIER, IP, TID, TIME, ... in this order.
        let mut offset = 8;
        if has(IDENTIFIER) {
            offset += 8;
        }
        let sample_ip_offset = has(IP).then_some(offset);
        for bit in [IP, TID] {
            if has(bit) {
                offset += 8;
            }
        }
        let sample_time_offset = has(TIME).then_some(offset);
        // Then TIME, ADDR, ID, STREAM_ID, CPU, PERIOD, READ, CALLCHAIN.
        for bit in [TIME, ADDR, ID, STREAM_ID, CPU, PERIOD] {
            if has(bit) {
                offset += 8;
            }
        }
        let read_format = b::PERF_SAMPLE_READ as u64;
        let sample_callchain_offset = (has(CALLCHAIN) && !has(read_format)).then_some(offset);
        // The sample-id trailer: TID, TIME, ID, STREAM_ID, CPU, IDENTIFIER.
        let after_time = [ID, STREAM_ID, CPU, IDENTIFIER]
            .iter()
            .filter(|&&b| has(b))
            .count()
            * 8;
        let trailer_size = [TID, TIME, ID, STREAM_ID, CPU, IDENTIFIER]
            .iter()
            .filter(|&&b| has(b))
            .count()
            * 8;
        let other_time_from_end = has(TIME).then_some(after_time + 8);
        SampleLayout {
            sample_time_offset,
            other_time_from_end,
            trailer_size,
            sample_ip_offset,
            sample_callchain_offset,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attr_bytes_carry_size_type_and_config() {
        let attr = EventAttr::new(1, 0).sample_frequency(4000);
        let bytes = attr.to_bytes();
        assert_eq!(bytes.len(), ATTR_SIZE);
        assert_eq!(u32::from_le_bytes(bytes[0..4].try_into().unwrap()), 1);
        assert_eq!(
            u32::from_le_bytes(bytes[4..8].try_into().unwrap()),
            ATTR_SIZE as u32
        );
        assert_eq!(u64::from_le_bytes(bytes[16..24].try_into().unwrap()), 4000);
    }

    #[test]
    fn layout_for_strobe_sample_type() {
        use sample::*;
        let layout = SampleLayout::new(IDENTIFIER | IP | TID | TIME | CPU | PERIOD | CALLCHAIN);
        assert_eq!(layout.sample_time_offset, Some(32));
        // trailer: tid, time, cpu, identifier; time is third from the end.
        assert_eq!(layout.other_time_from_end, Some(24));
        assert_eq!(layout.trailer_size, 32);
        assert_eq!(layout.sample_ip_offset, Some(16));
        assert_eq!(layout.sample_callchain_offset, Some(56));
        let single = SampleLayout::new(IP | TID | TIME | PERIOD | CALLCHAIN);
        assert_eq!(
            (
                single.sample_ip_offset,
                single.sample_time_offset,
                single.sample_callchain_offset
            ),
            (Some(8), Some(24), Some(40))
        );
        assert_eq!(single.other_time_from_end, Some(8));
    }
}
