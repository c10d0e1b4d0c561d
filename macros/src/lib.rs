//! goro-macros: the `#[goro::main]` attribute.
//!
//! # Design
//! A plain token-stream rewrite, no `syn`: the item must be a function whose last
//! token tree is its brace-delimited body. Everything before the body (attributes,
//! visibility, signature, return type) is kept; the body becomes
//! `::goro::run(move || <body>)`, so `fn main() -> Result<..>` works too (the
//! closure returns the body's value). `async fn` is rejected with a clear error.

use proc_macro::{Delimiter, Group, Ident, Punct, Spacing, Span, TokenStream, TokenTree};

/// Runs the body of the annotated function (normally `fn main`) as the main goroutine
/// of the default runtime: `goro::run(move || body)`.
///
/// ```ignore
/// #[goro::main]
/// fn main() {
///     goro::go! { println!("hello from a goroutine") }.join().unwrap();
/// }
/// ```
#[proc_macro_attribute]
pub fn main(attr: TokenStream, item: TokenStream) -> TokenStream {
    if !attr.is_empty() {
        return error(Span::call_site(), "#[goro::main] takes no arguments");
    }
    let mut tokens: Vec<TokenTree> = item.into_iter().collect();
    let is_fn = tokens.iter().any(|t| matches!(t, TokenTree::Ident(i) if i.to_string() == "fn"));
    if let Some(TokenTree::Ident(a)) =
        tokens.iter().find(|t| matches!(t, TokenTree::Ident(i) if i.to_string() == "async"))
    {
        return error(a.span(), "#[goro::main] goes on a plain `fn`, not an `async fn`");
    }
    let body = match tokens.pop() {
        Some(TokenTree::Group(g)) if g.delimiter() == Delimiter::Brace && is_fn => g,
        _ => return error(Span::call_site(), "#[goro::main] expects a function with a body"),
    };
    // ::goro::run(move || { body })
    let mut call = TokenStream::new();
    call.extend([
        TokenTree::Punct(Punct::new(':', Spacing::Joint)),
        TokenTree::Punct(Punct::new(':', Spacing::Alone)),
        TokenTree::Ident(Ident::new("goro", Span::call_site())),
        TokenTree::Punct(Punct::new(':', Spacing::Joint)),
        TokenTree::Punct(Punct::new(':', Spacing::Alone)),
        TokenTree::Ident(Ident::new("run", Span::call_site())),
    ]);
    let mut closure = TokenStream::new();
    closure.extend([
        TokenTree::Ident(Ident::new("move", Span::call_site())),
        TokenTree::Punct(Punct::new('|', Spacing::Joint)),
        TokenTree::Punct(Punct::new('|', Spacing::Alone)),
        TokenTree::Group(body.clone()),
    ]);
    call.extend([TokenTree::Group(Group::new(Delimiter::Parenthesis, closure))]);
    let mut new_body = Group::new(Delimiter::Brace, call);
    new_body.set_span(body.span());
    let mut out: TokenStream = tokens.into_iter().collect();
    out.extend([TokenTree::Group(new_body)]);
    out
}

/// `compile_error!("msg")` at `span`.
fn error(span: Span, msg: &str) -> TokenStream {
    let mut lit = proc_macro::Literal::string(msg);
    lit.set_span(span);
    let mut args = TokenStream::new();
    args.extend([TokenTree::Literal(lit)]);
    let mut out = TokenStream::new();
    out.extend([
        TokenTree::Ident(Ident::new("compile_error", span)),
        TokenTree::Punct(Punct::new('!', Spacing::Alone)),
        TokenTree::Group(Group::new(Delimiter::Parenthesis, args)),
        TokenTree::Punct(Punct::new(';', Spacing::Alone)),
    ]);
    out
}
