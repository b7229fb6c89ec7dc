//! The zoo benchmark (DESIGN §9): for each kernel and each strategy, runs-to-first-failure over
//! 10 explorer seeds (median and worst, capped at 10,000), the time to first failure (shrinking
//! not included), false alarms of the fixed variant (2,000 runs under each strategy, every
//! distinct failure counted), and the search rate; then the target lines.
//!
//! ```sh
//! cargo run --release -p green-zoo --example zoo_bench            # everything (a few minutes)
//! cargo run --release -p green-zoo --example zoo_bench -- --quick # 3 seeds, 500 fixed runs each
//! cargo run --release -p green-zoo --example zoo_bench -- --only eventlet  # kernels matching
//! cargo run --release -p green-zoo --example zoo_bench -- --strategy guided # one strategy
//! cargo run --release -p green-zoo --example zoo_bench -- --strategy random --density 0.5
//! ```
//!
//! With `--strategy` the fixed variants are not run; `--density` sets every kernel's harness
//! density (the configured one: Random alone runs at it); the search rates and the target lines are
//! printed only for a run over every kernel and strategy.

use std::time::{Duration, Instant};

use green_harness::{Search, Strategy};

const CAP: u64 = 10_000;

fn median(v: &mut [u64]) -> u64 {
    v.sort_unstable();
    v[v.len() / 2]
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let seeds: u64 = if quick { 3 } else { 10 };
    let fixed_runs: u64 = if quick { 500 } else { 2_000 };
    let args: Vec<String> = std::env::args().collect();
    let flag = |name: &str| args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned();
    let only = flag("--only");
    let strategy = flag("--strategy").map(|s| {
        Strategy::parse(&s).unwrap_or_else(|| {
            eprintln!("zoo_bench: --strategy {s}: expected random, pct:<depth>, swarm, guided or portfolio");
            std::process::exit(2)
        })
    });
    let density = flag("--density").map(|d| match d.parse::<f64>() {
        Ok(d) if (0.0..=1.0).contains(&d) => d,
        _ => {
            eprintln!("zoo_bench: --density {d}: expected a number from 0 to 1");
            std::process::exit(2)
        }
    });
    let strategies: Vec<Strategy> = [
        Strategy::Random,
        Strategy::Pct { depth: 2 },
        Strategy::Pct { depth: 3 },
        Strategy::Swarm,
        Strategy::Guided,
        Strategy::Portfolio,
    ]
    .into_iter()
    .filter(|s| strategy.is_none_or(|t| t == *s))
    .collect();
    let kernels: Vec<_> = green_zoo::kernels()
        .into_iter()
        .filter(|k| only.as_ref().is_none_or(|o| k.name.contains(o.as_str())))
        .collect();
    println!("kernel                                          strategy    median  worst  found<=200  ms-to-first");
    let mut portfolio_found = 0;
    let mut portfolio_medians = Vec::new();
    let mut random_sum = 0u64;
    let mut portfolio_sum = 0u64;
    let mut false_alarms = 0u64;
    for k in &kernels {
        for &s in &strategies {
            let mut runs = Vec::new();
            let mut times = Vec::new();
            let mut within_200 = 0;
            for seed in 1..=seeds {
                let t0 = Instant::now();
                let mut h = (k.harness)();
                if let Some(d) = density {
                    h = h.density(d);
                }
                let x = h.seed(seed).strategy(s).try_explore(Search::Runs(CAP), k.buggy);
                let r = x.first_failure().map_or(CAP, |f| f.run + 1);
                if r <= 200 {
                    within_200 += 1;
                }
                runs.push(r);
                // The time to the failing run, not the shrinking after it (or the whole search).
                times.push(x.first_failure().map_or_else(|| t0.elapsed(), |f| f.found_after));
            }
            let worst = *runs.iter().max().unwrap();
            let med = median(&mut runs);
            times.sort();
            let t = times[times.len() / 2];
            println!(
                "{:<47} {:<11} {:>6} {:>6} {:>5}/{:<5} {:>8.1}",
                k.name,
                s.to_string(),
                med,
                worst,
                within_200,
                seeds,
                t.as_secs_f64() * 1e3
            );
            match s {
                Strategy::Random => random_sum += med,
                Strategy::Portfolio => {
                    portfolio_sum += med;
                    portfolio_medians.push(med);
                    if within_200 * 10 >= 9 * seeds {
                        portfolio_found += 1;
                    }
                }
                _ => {}
            }
        }
        if strategy.is_some() {
            continue;
        }
        // The fixed variant never fails, under any strategy: every distinct failure counts.
        let mut alarms = Vec::new();
        for &s in &strategies {
            let x = (k.harness)().seed(1).strategy(s).keep_going(true).try_explore(Search::Runs(fixed_runs), k.fixed);
            alarms.extend(x.failures);
        }
        false_alarms += alarms.len() as u64;
        println!(
            "{:<47} fixed: {} runs under each of {} strategies, {} false alarm(s)",
            k.name,
            fixed_runs,
            strategies.len(),
            alarms.len()
        );
        for f in &alarms {
            println!("    false alarm: {f}");
        }
    }
    if only.is_some() || strategy.is_some() || density.is_some() {
        return;
    }
    // The search rate on the smallest kernel (the in-memory ordering one), every core.
    let Some(ro) = kernels.iter().find(|k| k.name == "ro_gevent_1487_newest_waiter_wins") else { return };
    let x = (ro.harness)().seed(1).try_explore(Search::For(Duration::from_secs(2)), ro.fixed);
    let rate = x.runs as f64 / x.elapsed.as_secs_f64();
    println!("search rate on {}: {:.0} runs/s ({} runs in {:.2?})", ro.name, rate, x.runs, x.elapsed);
    let x1 = (ro.harness)().seed(1).threads(1).try_explore(Search::For(Duration::from_secs(2)), ro.fixed);
    let r1 = x1.runs as f64 / x1.elapsed.as_secs_f64();
    println!("search rate on {}, one thread: {:.0} runs/s ({} runs in {:.2?})", ro.name, r1, x1.runs, x1.elapsed);
    // And on an I/O kernel (a loopback TCP pair per run, short writes): what a socket test costs.
    if let Some(io) = kernels.iter().find(|k| k.name == "sr_eventlet_295_writelines_partial_send") {
        let x = (io.harness)().seed(1).try_explore(Search::For(Duration::from_secs(2)), io.fixed);
        let r = x.runs as f64 / x.elapsed.as_secs_f64();
        println!("search rate on {} (I/O): {:.0} runs/s ({} runs in {:.2?})", io.name, r, x.runs, x.elapsed);
    }
    let med_of_medians = median(&mut portfolio_medians);
    let n = kernels.len();
    let line = |name: &str, ratio: f64, goal: f64, lower_better: bool| {
        let met = if lower_better { ratio <= goal } else { ratio >= goal };
        println!("target {name} ratio={ratio:.3} goal={goal} {}", if met { "met" } else { "missed" });
    };
    line("zoo_found", portfolio_found as f64 / n as f64, 1.0, false);
    line("zoo_median_runs", med_of_medians as f64, 10.0, true);
    line("zoo_false_alarms", false_alarms as f64, 0.0, true);
    line("zoo_portfolio_vs_random", random_sum as f64 / portfolio_sum.max(1) as f64, 3.0, false);
    line("explore_runs_per_s", rate, 50_000.0, false);
}
