//! The offline tool on the crash-simulating file system: every crash
//! image the engine can leave is judged "clean" or "a torn tail repair
//! fixes", never corruption; `repair` leaves what open would recover; and
//! `repair`'s `.broken` copy is durable before the chunk is cut, so a
//! power cut in the middle of a repair never loses the bytes it drops.

mod common;

use std::path::Path;
use std::sync::Arc;

use chunklog::vfs::Vfs;
use chunklog::{ChunkLog, Config, inspect};
use common::memfs::{Failure, FaultPlan, MemFs};
use common::model::{Model, Op, Rng, gen_op};

fn cfg() -> Config {
    Config::new("/db").chunk_max_records(6).chunk_max_size(4096).cache(0, 0).reclaim_percent(0)
}

/// A generated workload with random flushes, on `fs`.
fn workload(fs: &MemFs, seed: u64, n: u64) {
    let Ok(log) = ChunkLog::open_with_vfs(cfg(), Arc::new(fs.clone())) else { return };
    let mut rng = Rng(seed);
    let mut m = Model::default();
    for seq in 0..n {
        let op: Op = gen_op(&mut rng, &m, seq);
        if Model::submit(&log, &op).is_err() {
            break;
        }
        m.apply(&op);
        if rng.below(3) == 0 {
            log.flush(Box::new(|_| {}));
        }
    }
}

#[test]
fn a_crash_image_is_never_corruption_to_the_tool() {
    let dir = Path::new("/db");
    let mut verdicts = [0u64; 3];
    for seed in 0..200 * common::scale() {
        let dry = MemFs::new();
        workload(&dry, seed, 40);
        let mut rng = Rng(seed ^ 0xFEED);
        let fs = MemFs::new();
        fs.set_plan(Some(FaultPlan {
            only: None,
            nth: rng.below(dry.ops() + 2),
            failure: Failure::Crash,
            sticky: true,
        }));
        workload(&fs, seed, 40);
        let image = fs.crash_image(&mut rng);
        let report = inspect::check(&image, dir, |_| {}).unwrap();
        let code = report.exit_code();
        assert!(code <= 1, "seed {seed}: a crash image judged corrupt: {:?} {:?}", report.refusal, report.problems);
        verdicts[code as usize] += 1;

        // repair leaves exactly what open would recover.
        let opened = Model::of(&ChunkLog::open_with_vfs(cfg(), Arc::new(image.current_image())).unwrap());
        inspect::repair(&image, dir, false).unwrap();
        assert_eq!(inspect::check(&image, dir, |_| {}).unwrap().exit_code(), 0, "seed {seed}: clean after repair");
        let repaired = Model::of(&ChunkLog::open_with_vfs(cfg(), Arc::new(image)).unwrap());
        assert_eq!(repaired, opened, "seed {seed}");
    }
    println!("verdicts: {} clean, {} torn tail", verdicts[0], verdicts[1]);
    assert!(verdicts[1] > 0, "some images had a torn tail");
}

#[test]
fn the_broken_copy_is_durable_before_repair_cuts() {
    let dir = Path::new("/db");
    // A log whose newest chunk ends in a torn record.
    let fs = MemFs::new();
    {
        let log = ChunkLog::open_with_vfs(Config::new(dir).cache(0, 0), Arc::new(fs.clone())).unwrap();
        log.append((1..=10u64).map(|i| (i, vec![i as u8; 300]))).unwrap();
        log.close().unwrap();
    }
    let chunk = inspect::chunk_files(&fs, dir).unwrap().pop().unwrap().1;
    let f = fs.open(&chunk).unwrap();
    let len = f.size().unwrap();
    f.write_all_at(&[0xA5; 100], len - 150).unwrap();
    f.sync_data().unwrap();
    let damaged = fs.current_image();
    let actions = inspect::repair(&damaged.current_image(), dir, true).unwrap();
    assert!(matches!(actions[..], [inspect::RepairAction::Cut { .. }]), "{actions:?}");

    let mut cut_seen = 0;
    for step in 0..20 {
        for variant in 0..3 {
            let fs = damaged.current_image();
            fs.set_plan(Some(FaultPlan { only: None, nth: step, failure: Failure::Crash, sticky: true }));
            let _ = inspect::repair(&fs, dir, false);
            let image = fs.crash_image(&mut Rng(step * 3 + variant));
            let now = image.open(&chunk).unwrap().size().unwrap();
            if now < len {
                let mut broken = chunk.as_os_str().to_owned();
                broken.push(".broken");
                let saved =
                    image.open(Path::new(&broken)).unwrap_or_else(|e| panic!("step {step}: cut, but no .broken: {e}"));
                let mut bytes = vec![0; saved.size().unwrap() as usize];
                saved.read_exact_at(&mut bytes, 0).unwrap();
                let mut dropped = vec![0; (len - now) as usize];
                damaged.open(&chunk).unwrap().read_exact_at(&mut dropped, now).unwrap();
                assert_eq!(bytes, dropped, "step {step}: the .broken copy holds the dropped bytes");
                cut_seen += 1;
            }
        }
    }
    assert!(cut_seen > 0, "some crash images had the cut");
}
