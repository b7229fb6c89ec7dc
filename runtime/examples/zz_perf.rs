use std::time::{Duration, Instant};
fn main() {
    let n: u64 = std::env::args().nth(1).map(|s| s.parse().unwrap()).unwrap_or(5_000_000);
    let t1 = Instant::now();
    let a = green::spawn(move || {
        for _ in 0..n {
            green::sleep(Duration::ZERO)
        }
    });
    let b = green::spawn(move || {
        for _ in 0..n {
            green::sleep(Duration::ZERO)
        }
    });
    a.wait().unwrap();
    b.wait().unwrap();
    let e = t1.elapsed();
    println!("switch: {:.1}M/s", (2 * n) as f64 / e.as_secs_f64() / 1e6);
    let t1 = Instant::now();
    for _ in 0..n {
        green::spawn(|| 1).wait().unwrap();
    }
    println!("spawn+wait: {:.2}M/s", n as f64 / t1.elapsed().as_secs_f64() / 1e6);
}
