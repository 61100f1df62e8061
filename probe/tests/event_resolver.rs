//! `-e` lists resolved against fixture sysfs trees and the shipped event
//! tables: PMU terms, aliases, table events, groups and modifiers together.

use std::path::PathBuf;
use strobe_probe::pmu::tables;
use strobe_probe::spec::EventResolver;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/sysfs-pmu")
        .join(name)
}

fn westmere_on_x86_fixture() -> EventResolver {
    EventResolver::new()
        .with_sysfs_root(fixture("x86"))
        .with_table(tables::table("westmere-ep-sp"))
}

#[test]
fn pmu_terms_and_modifiers() {
    let mut resolver = westmere_on_x86_fixture();
    let events = resolver
        .resolve_list("cpu/event=0x3c,umask=0x1,inv,cmask=2/pp,cpu/event=0xb7,umask=0x1,offcore_rsp=0x10001,name=offcore/")
        .unwrap();
    assert_eq!(events.len(), 2);
    // The fixture's cpu PMU has type 4 (PERF_TYPE_RAW).
    assert_eq!((events[0].type_, events[0].config), (4, 0x0280_013c));
    assert_eq!(events[0].precise_ip, 2);
    assert_eq!(events[1].name, "offcore");
    assert_eq!((events[1].config, events[1].config1), (0x1b7, 0x10001));
    // Modifiers after a colon too.
    let e = &resolver.resolve_list("cpu/event=0xc0/:u").unwrap()[0];
    assert!(e.exclude_kernel && !e.exclude_user);
}

#[test]
fn table_events_and_sysfs_aliases() {
    let mut resolver = westmere_on_x86_fixture();
    let events = resolver
        .resolve_list("ARITH.DIV,inst_retired.any_p:u,mem-loads,cpu/ARITH.DIV/")
        .unwrap();
    // ARITH.DIV: event 0x14, umask 1, edge, inv, cmask 1.
    assert_eq!((events[0].type_, events[0].config), (4, 0x184_0114));
    assert_eq!(events[1].config, 0x1c0);
    assert!(events[1].exclude_kernel);
    // mem-loads is an alias of the fixture's cpu PMU, with ldlat in config1.
    assert_eq!((events[2].config, events[2].config1), (0x1cd, 3));
    assert_eq!(events[3].config, 0x184_0114);
}

#[test]
fn groups_keep_their_members_together() {
    let mut resolver = westmere_on_x86_fixture();
    let events = resolver
        .resolve_list("{cycles,INST_RETIRED.ANY_P}:u,{msr/tsc/,page-faults},cpu-clock")
        .unwrap();
    let groups: Vec<Option<u32>> = events.iter().map(|e| e.group).collect();
    assert_eq!(groups, [Some(0), Some(0), Some(1), Some(1), None]);
    assert!(events[0].exclude_kernel && events[1].exclude_kernel);
    assert!(!events[2].exclude_kernel);
}

#[test]
fn other_cpus_tables() {
    // ARM's events go to the fixture's armv8_pmuv3_0 PMU, by its dynamic type.
    let mut arm = EventResolver::new()
        .with_sysfs_root(fixture("arm64"))
        .with_table(tables::table("cortex-a53"));
    let events = arm.resolve_list("INST_RETIRED,CPU_CYCLES:k").unwrap();
    let arm_type = std::fs::read_to_string(fixture("arm64/armv8_pmuv3_0/type")).unwrap();
    assert_eq!(events[0].type_, arm_type.trim().parse::<u32>().unwrap());
    assert_eq!((events[0].config, events[1].config), (0x08, 0x11));
    // AMD's split event select: bits 8-11 of the event go to config 32-35.
    let mut amd = EventResolver::new()
        .with_sysfs_root(fixture("x86-amd"))
        .with_table(tables::table("zen4"));
    let e = &amd.resolve_list("cpu/event=0x1c0,umask=0x1/").unwrap()[0];
    assert_eq!(e.config, 0x1_0000_01c0);
}

#[test]
fn errors_say_what_exists() {
    let mut resolver = westmere_on_x86_fixture();
    let err = resolver
        .resolve_list("nope/event=1/")
        .unwrap_err()
        .to_string();
    assert!(err.contains("nope") && err.contains("cpu"), "{err}");
    let err = resolver
        .resolve_list("cpu/bogus=1/")
        .unwrap_err()
        .to_string();
    assert!(err.contains("bogus") && err.contains("umask"), "{err}");
    let err = resolver
        .resolve_list("cpu/event=0x1ff/")
        .unwrap_err()
        .to_string();
    assert!(err.contains("does not fit"), "{err}");
    let err = resolver.resolve_list("ARITH.DIVV").unwrap_err().to_string();
    assert!(err.contains("did you mean `ARITH.DIV`"), "{err}");
    // Another CPU's event names that table, and how to use it.
    let err = resolver
        .resolve_list("ls_dispatch.ld_dispatch")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("westmere-ep-sp") && err.contains("zen4") && err.contains("--event-table"),
        "{err}"
    );
    let err = resolver.resolve_list("cycles:z").unwrap_err().to_string();
    assert!(err.contains("unknown modifier `z`"), "{err}");
}
