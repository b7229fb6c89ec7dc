//! `#[green_harness::test]`: the attribute behind [`green_harness::test`]; use it through
//! `green-harness`, which re-exports it (the expansion names `::green_harness`).
//!
//! [`green_harness::test`]: https://docs.rs/green-harness
#![deny(missing_docs)]

use proc_macro::TokenStream;
use proc_macro2::Span;
use quote::quote;
use syn::parse::Parser;
use syn::punctuated::Punctuated;
use syn::{Expr, ExprArray, ItemFn, Lit, Meta, Token};

/// The knobs the attribute takes, for error messages.
const KNOBS: &str = "seed = N, shuffle, shuffle = bool, jitter_ms = N, faults = [Kind, ...], real_clock, \
                     virtual_clock = bool, blocking_ms = N, budget_ms = N, allow_leaks, allow_blocking, explore = N";

/// Runs the test function's body under `green_harness::Harness`, as a `#[test]`.
///
/// See `green_harness::test` for the knobs and an example.
#[proc_macro_attribute]
pub fn test(args: TokenStream, item: TokenStream) -> TokenStream {
    match expand(args.into(), item.into()) {
        Ok(t) => t.into(),
        Err(e) => e.to_compile_error().into(),
    }
}

fn ms(e: &Expr) -> proc_macro2::TokenStream {
    quote! { ::std::time::Duration::from_millis(#e) }
}

fn flag(e: &Expr) -> syn::Result<bool> {
    match e {
        Expr::Lit(l) => match &l.lit {
            Lit::Bool(b) => Ok(b.value),
            other => Err(syn::Error::new_spanned(other, "expected true or false")),
        },
        other => Err(syn::Error::new_spanned(other, "expected true or false")),
    }
}

fn expand(args: proc_macro2::TokenStream, item: proc_macro2::TokenStream) -> syn::Result<proc_macro2::TokenStream> {
    let knobs = Punctuated::<Meta, Token![,]>::parse_terminated.parse2(args)?;
    let func: ItemFn = syn::parse2(item)?;
    if !func.sig.inputs.is_empty() {
        return Err(syn::Error::new_spanned(
            &func.sig.inputs,
            "#[green_harness::test] functions take no arguments (the harness runs the body as the root greenlet)",
        ));
    }
    if let Some(a) = &func.sig.asyncness {
        return Err(syn::Error::new_spanned(a, "#[green_harness::test] functions are not async: green code blocks"));
    }
    let mut seed = None;
    let mut calls = Vec::new();
    for knob in &knobs {
        let name = knob.path().get_ident().map(ToString::to_string).unwrap_or_default();
        match (name.as_str(), knob) {
            ("seed", Meta::NameValue(nv)) => seed = Some(nv.value.clone()),
            ("shuffle", Meta::Path(_)) => calls.push(quote! { .shuffle(true) }),
            ("shuffle", Meta::NameValue(nv)) => {
                let on = flag(&nv.value)?;
                calls.push(quote! { .shuffle(#on) });
            }
            ("jitter_ms", Meta::NameValue(nv)) => {
                let d = ms(&nv.value);
                calls.push(quote! { .jitter(#d) });
            }
            ("faults", Meta::NameValue(nv)) => {
                let Expr::Array(ExprArray { elems, .. }) = &nv.value else {
                    return Err(syn::Error::new_spanned(&nv.value, "faults takes a list: faults = [Short, Eintr]"));
                };
                let kinds = elems.iter().map(|k| quote! { ::green_harness::Fault::#k });
                calls.push(quote! { .faults(&[#(#kinds),*]) });
            }
            ("real_clock", Meta::Path(_)) => calls.push(quote! { .virtual_clock(false) }),
            ("virtual_clock", Meta::NameValue(nv)) => {
                let on = flag(&nv.value)?;
                calls.push(quote! { .virtual_clock(#on) });
            }
            ("blocking_ms", Meta::NameValue(nv)) => {
                let d = ms(&nv.value);
                calls.push(quote! { .blocking(#d) });
            }
            ("allow_leaks", Meta::Path(_)) => calls.push(quote! { .fail_on_leaks(false) }),
            ("allow_blocking", Meta::Path(_)) => calls.push(quote! { .fail_on_blocking(false) }),
            ("explore", Meta::NameValue(nv)) => {
                let v = &nv.value;
                calls.push(quote! { .search(::green_harness::Search::Runs(#v)) });
            }
            ("budget_ms", Meta::NameValue(nv)) => {
                let d = ms(&nv.value);
                calls.push(quote! { .budget(#d) });
            }
            _ => {
                return Err(syn::Error::new_spanned(
                    knob,
                    format!("unknown #[green_harness::test] knob; the knobs are: {KNOBS}"),
                ))
            }
        }
    }
    // The environment's tape or seed wins over the attribute's seed (the builder sees to it), so
    // that a failure's replay line (`GREEN_SEED=... cargo test <name> -- --exact`) replays it.
    if let Some(s) = seed {
        calls.push(quote! { .seed(#s) });
    }
    let ItemFn { attrs, vis, sig, block } = func;
    let body = syn::Ident::new("__green_harness_body", Span::mixed_site());
    let output = match &sig.output {
        syn::ReturnType::Default => quote! { () },
        syn::ReturnType::Type(_, t) => quote! { #t },
    };
    Ok(quote! {
        #[::core::prelude::v1::test]
        #(#attrs)*
        #vis #sig {
            // The body as a function: a search runs it many times, on every core.
            fn #body() -> #output #block
            let __green_harness = ::green_harness::Harness::new() #(#calls)*;
            __green_harness.__run_fn(#body)
        }
    })
}
