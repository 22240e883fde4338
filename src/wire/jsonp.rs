//! JSONP bodies: `/**/CB(JSON);`. The `/**/` prefix and a strict callback name stop Rosetta Flash
//! (CVE-2014-4671) and script injection through the callback parameter.

/// True when `name` matches `^[A-Za-z_$][A-Za-z0-9_$.]{0,63}$`.
pub fn valid_callback(name: &str) -> bool {
    let _ = name;
    todo!()
}

/// `/**/CB(JSON);` — `json` must already be JSON text; U+2028/U+2029 are escaped so the body stays a
/// valid script in engines that predate ES2019.
pub fn encode_call(callback: &str, json: &str) -> String {
    let _ = (callback, json);
    todo!()
}
