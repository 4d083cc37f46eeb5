//! For the project's fuzz targets (`fuzz/`) only, behind the off-by-default
//! `fuzzing` feature: crate-private parsers made reachable so that the
//! targets can check their properties directly. No stability promise: this
//! module changes whenever the parsers do.

/// The session-cookie lookup over `Cookie` headers that the request cycle
/// uses: the first value of cookie `name` across `headers` that `parse`
/// takes. See the crate-private `cookie_header::find_cookie`.
pub fn find_cookie<'a, R>(
    headers: impl IntoIterator<Item = &'a str>,
    name: &str,
    parse: impl Fn(&str) -> Option<R>,
) -> Option<R> {
    crate::cookie_header::find_cookie(headers, name, parse)
}
