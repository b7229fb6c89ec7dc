//! A greenthread named `offender` blocks its hub with `std::thread::sleep(300 ms)` under a 50 ms
//! resolution (collect mode) while another greenthread ticks; the collected reports are printed.
//!
//! Run with `cargo run -p green-detectors --example blocking`.

use std::time::Duration;

fn offend() {
    std::thread::sleep(Duration::from_millis(300));
}

fn main() {
    let collect =
        green_detectors::BlockingConfig { resolution: Duration::from_millis(50), mode: green_detectors::Mode::Collect };
    green_detectors::enable(collect).expect("valid resolution");
    let ticker = green::Builder::new().name("ticker").spawn(|| {
        let mut ticks = 0;
        for _ in 0..20 {
            green::sleep(Duration::from_millis(5));
            ticks += 1;
        }
        ticks
    });
    let offender = green::Builder::new().name("offender").spawn(offend);
    offender.wait().expect("collect mode lets the offender finish");
    let ticks = ticker.wait().expect("the ticker finishes");
    eprintln!("ticker ticked {ticks} times");
    for report in green_detectors::take_reports() {
        println!("{report}");
    }
    green_detectors::disable();
}
