//! Every kernel of the zoo, honest and found: `buggy()` passes with the zero tape, the default
//! portfolio finds it within 2,000 runs for a fixed explorer seed, and `fixed()` passes 2,000
//! portfolio runs.

use green_harness::{Search, Strategy, Tape};

#[test]
fn buggy_variants_pass_with_the_zero_tape() {
    for k in green_zoo::kernels() {
        let (report, r) = (k.harness)().tape(Tape::new(vec![])).try_run(k.buggy);
        assert!(r.is_ok(), "{} fails without any perturbation: {:?}", k.name, report.faults);
    }
}

#[test]
fn the_portfolio_finds_every_buggy_variant() {
    for k in green_zoo::kernels() {
        let x = (k.harness)().seed(1).try_explore(Search::Runs(2_000), k.buggy);
        let f = x.first_failure().unwrap_or_else(|| panic!("{} not found in 2,000 runs", k.name));
        println!("{}: found at run {} ({}): {}", k.name, f.run, f.strategy, f.message.lines().next().unwrap_or(""));
    }
}

#[test]
fn fixed_variants_never_fail() {
    for k in green_zoo::kernels() {
        let x = (k.harness)().seed(1).try_explore(Search::Runs(2_000), k.fixed);
        if let Some(f) = x.first_failure() {
            panic!("{} fixed failed: {f}", k.name);
        }
    }
}

/// DESIGN §9: "the fixed variant never fails under any strategy" (the portfolio above mixes
/// them; here each alone, fewer runs in a debug build; `zoo_bench` runs 2,000 of each).
#[test]
fn fixed_variants_never_fail_under_any_single_strategy() {
    let strategies =
        [Strategy::Random, Strategy::Pct { depth: 2 }, Strategy::Pct { depth: 3 }, Strategy::Swarm, Strategy::Guided];
    for k in green_zoo::kernels() {
        for s in strategies {
            let x = (k.harness)().seed(2).strategy(s).try_explore(Search::Runs(200), k.fixed);
            if let Some(f) = x.first_failure() {
                panic!("{} fixed failed under {s}: {f}", k.name);
            }
        }
    }
}
