//! Static files, compiled into the binary: the portal works offline and
//! needs nothing beside the executable.

use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

macro_rules! assets {
    ($($name:literal),* $(,)?) => {
        const ASSETS: &[(&str, &[u8])] = &[
            $(($name, include_bytes!(concat!("../assets/", $name)))),*
        ];
    };
}

assets!(
    "casellario.css",
    "casellario.js",
    "favicon.svg",
    "fonts/titillium-web-latin-400-normal.woff2",
    "fonts/titillium-web-latin-600-normal.woff2",
    "fonts/titillium-web-latin-700-normal.woff2",
    "fonts/titillium-web-latin-ext-400-normal.woff2",
    "fonts/titillium-web-latin-ext-600-normal.woff2",
    "fonts/titillium-web-latin-ext-700-normal.woff2",
    "fonts/OFL.txt",
);

pub fn get(name: &str) -> Option<&'static [u8]> {
    ASSETS.iter().find(|(n, _)| *n == name).map(|(_, b)| *b)
}

pub async fn serve(Path(name): Path<String>) -> Response {
    let Some(body) = get(&name) else {
        return crate::error::AppError::not_found().into_response();
    };
    let mime = mime_guess::from_path(&name).first_or_octet_stream();
    let mut resp = (StatusCode::OK, body).into_response();
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(mime.essence_str()) {
        h.insert(header::CONTENT_TYPE, v);
    }
    // Names are not fingerprinted: a short cache keeps upgrades visible.
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    resp
}
