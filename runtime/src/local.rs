//! Greenthread-local storage: [`green_local!`](crate::green_local) and [`LocalKey`].
//!
//! # Ground rules
//!
//! * Each greenthread (and the root greenlet) has its own value of every key, created by the
//!   key's initialiser on its first access from that greenthread.
//! * A greenthread's values are dropped when its function is over (returned, panicked or was
//!   killed), on its own stack, before anyone waiting for it sees its result; their destructors may
//!   make green calls. A value created by a destructor is dropped too. The root's values are
//!   dropped when the hub shuts down ([`hub::shutdown`](crate::hub::shutdown) or thread exit).
//! * No borrow is held while the closure runs, so it may access other keys (or spawn, block, be
//!   killed); the value stays alive for the whole call.
//! * Code the hub runs directly (hub context) belongs to no greenthread: [`LocalKey::with`]
//!   panics there and [`LocalKey::try_with`] returns [`AccessError`].

use std::any::Any;
use std::fmt;
use std::rc::Rc;

use crate::hub::hub;

/// A greenthread-local key, declared with [`green_local!`](crate::green_local).
///
/// ```
/// use std::cell::Cell;
///
/// green::green_local! {
///     static COUNT: Cell<u32> = Cell::new(0);
/// }
///
/// COUNT.with(|c| c.set(5)); // the root's own value
/// let other = green::spawn(|| {
///     COUNT.with(|c| c.set(c.get() + 1));
///     COUNT.with(Cell::get)
/// });
/// assert_eq!(other.wait().unwrap(), 1); // a fresh value per greenthread
/// assert_eq!(COUNT.with(Cell::get), 5);
/// ```
pub struct LocalKey<T: 'static> {
    init: fn() -> T,
}

/// A greenthread-local value was accessed from hub context, where no greenthread runs.
///
/// ```
/// green::green_local! { static X: u8 = 1; }
/// assert_eq!(X.try_with(|x| *x), Ok(1));
/// let e = green::AccessError;
/// assert!(e.to_string().contains("hub context"));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AccessError;

impl fmt::Display for AccessError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a green_local! value was accessed from hub context, where no greenthread runs")
    }
}

impl std::error::Error for AccessError {}

impl<T: 'static> LocalKey<T> {
    #[doc(hidden)]
    pub const fn new(init: fn() -> T) -> Self {
        LocalKey { init }
    }

    /// Runs `f` with the calling greenthread's value, creating it first if needed.
    ///
    /// # Panics
    ///
    /// In hub context (a hub callback), where no greenthread runs: use
    /// [`try_with`](LocalKey::try_with) there.
    ///
    /// ```
    /// use std::cell::RefCell;
    /// green::green_local! { static NAMES: RefCell<Vec<&'static str>> = RefCell::new(Vec::new()); }
    /// NAMES.with(|n| n.borrow_mut().push("root"));
    /// assert_eq!(NAMES.with(|n| n.borrow().len()), 1);
    /// ```
    #[track_caller]
    pub fn with<R>(&'static self, f: impl FnOnce(&T) -> R) -> R {
        match self.try_with(f) {
            Ok(r) => r,
            Err(AccessError) => panic!(
                "green_local!: a greenthread-local value was accessed from hub context (a hub callback), where no \
                 greenthread runs; use try_with there, or spawn a greenthread to do the work"
            ),
        }
    }

    /// Runs `f` with the calling greenthread's value, or returns [`AccessError`] in hub context.
    ///
    /// ```
    /// green::green_local! { static ID: u64 = green::current().id().as_u64(); }
    /// let gt = green::spawn(|| ID.try_with(|id| *id).unwrap());
    /// assert_eq!(gt.wait().unwrap(), gt.id().as_u64());
    /// ```
    pub fn try_with<R>(&'static self, f: impl FnOnce(&T) -> R) -> Result<R, AccessError> {
        let cur = hub().current().ok_or(AccessError)?;
        let key = self as *const Self as usize;
        let found =
            cur.cold_if_used().and_then(|c| c.locals.borrow().iter().find(|(k, _)| *k == key).map(|(_, v)| v.clone()));
        let value = match found {
            Some(v) => v,
            None => {
                // The initialiser may itself use other keys: no borrow is held while it runs.
                let v: Rc<dyn Any> = Rc::new((self.init)());
                cur.cold().locals.borrow_mut().push((key, v.clone()));
                v
            }
        };
        drop(cur);
        let value = value.downcast_ref::<T>().expect("green_local!: a key's value has the key's type");
        Ok(f(value))
    }
}

impl<T: 'static> fmt::Debug for LocalKey<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LocalKey { .. }")
    }
}

/// One greenthread's local values, by key address.
pub(crate) type Locals = Vec<(usize, Rc<dyn Any>)>;

/// Declares greenthread-local keys: each greenthread (and the root greenlet) gets its own value,
/// created on first access and dropped when the greenthread ends. See [`LocalKey`].
///
/// ```
/// use std::cell::RefCell;
///
/// green::green_local! {
///     /// The request a greenthread serves.
///     pub static REQUEST: RefCell<Option<String>> = RefCell::new(None);
///     static HITS: std::cell::Cell<u32> = std::cell::Cell::new(0);
/// }
///
/// let gts: Vec<_> = ["a", "b"]
///     .into_iter()
///     .map(|name| {
///         green::spawn(move || {
///             REQUEST.with(|r| *r.borrow_mut() = Some(name.to_string()));
///             green::sleep(std::time::Duration::from_millis(1)); // others run meanwhile
///             HITS.with(|h| h.set(h.get() + 1));
///             (REQUEST.with(|r| r.borrow().clone()), HITS.with(|h| h.get()))
///         })
///     })
///     .collect();
/// let results: Vec<_> = gts.into_iter().map(|g| g.wait().unwrap()).collect();
/// assert_eq!(results, [(Some("a".into()), 1), (Some("b".into()), 1)]);
/// ```
#[macro_export]
macro_rules! green_local {
    () => {};
    ($(#[$attr:meta])* $vis:vis static $name:ident: $t:ty = $init:expr; $($rest:tt)*) => {
        $(#[$attr])*
        $vis static $name: $crate::LocalKey<$t> = $crate::LocalKey::new({
            fn __green_local_init() -> $t {
                $init
            }
            __green_local_init
        });
        $crate::green_local!($($rest)*);
    };
    ($(#[$attr:meta])* $vis:vis static $name:ident: $t:ty = $init:expr) => {
        $crate::green_local!($(#[$attr])* $vis static $name: $t = $init;);
    };
}
