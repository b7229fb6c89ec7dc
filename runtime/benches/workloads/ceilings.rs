//! The coroutine ceilings of DESIGN §7, shared by the runtime's benches and `bench/compare`: what
//! corosensei alone costs, with no hub around it.

use std::hint::black_box;

use corosensei::stack::DefaultStack;
use corosensei::{Coroutine, CoroutineResult};

/// A bare coroutine that yields forever; each [`RawSwitch::step`] is one resume + yield.
pub struct RawSwitch(Coroutine<(), (), ()>);

impl RawSwitch {
    /// Creates the coroutine on its own default stack.
    pub fn new() -> RawSwitch {
        RawSwitch(Coroutine::new(|y, ()| loop {
            y.suspend(());
        }))
    }

    /// Resumes the coroutine once and waits for its yield.
    pub fn step(&mut self) {
        black_box(matches!(self.0.resume(()), CoroutineResult::Yield(())));
    }
}

/// Creates and runs a trivial coroutine on one reused 256 KiB stack; each
/// [`RawCreate::step`] is one create + run to completion.
pub struct RawCreate(Option<DefaultStack>);

impl RawCreate {
    /// Allocates the stack once.
    pub fn new() -> RawCreate {
        RawCreate(Some(DefaultStack::new(256 * 1024).unwrap()))
    }

    /// Creates a coroutine on the stack, runs it to completion and takes the stack back.
    pub fn step(&mut self) {
        let stack = self.0.take().unwrap();
        let mut co: Coroutine<(), (), u32, _> = Coroutine::with_stack(stack, |_, ()| black_box(1));
        black_box(co.resume(()));
        self.0 = Some(co.into_stack());
    }
}
