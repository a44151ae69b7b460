//! Reading a process's Prometheus metrics as a scraper does.

use std::io::{Read, Write};

/// The body of `GET /metrics` on a loopback `port`.
pub fn scrape(port: u16) -> String {
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).expect("metrics port");
    write!(
        stream,
        "GET /metrics HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n\r\n"
    )
    .expect("send");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read");
    assert!(
        response.starts_with("HTTP/1.1 200"),
        "GET /metrics: {response}"
    );
    response
}

/// The values of the series `name` whose labels include every `labels`
/// pair (none: the series was never recorded).
pub fn values(metrics: &str, name: &str, labels: &[(&str, &str)]) -> Vec<f64> {
    metrics
        .lines()
        .filter(|line| {
            line.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
        })
        .filter(|line| {
            labels
                .iter()
                .all(|(k, v)| line.contains(&format!("{k}=\"{v}\"")))
        })
        .map(|line| {
            line.rsplit(' ')
                .next()
                .and_then(|v| v.parse::<f64>().ok())
                .unwrap_or_else(|| panic!("not a sample: {line}"))
        })
        .collect()
}

/// Their sum; 0 when there is none.
pub fn value(metrics: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    values(metrics, name, labels).iter().sum()
}
