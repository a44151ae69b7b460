//! Pagination over sorted listings: a page token is the sort key of the last
//! item returned, so pages stay correct while objects are added or removed.

/// Items per page when the request does not say.
pub const DEFAULT_PAGE_SIZE: usize = 100;
/// Largest page.
pub const MAX_PAGE_SIZE: usize = 1000;

/// Returns the page after `token` of `items` (sorted by `key`) and the token
/// of the next page ("" when this is the last).
pub fn paginate<T>(
    items: impl IntoIterator<Item = T>,
    key: impl Fn(&T) -> String,
    page_size: u32,
    token: &str,
) -> (Vec<T>, String) {
    let size = match page_size as usize {
        0 => DEFAULT_PAGE_SIZE,
        n => n.min(MAX_PAGE_SIZE),
    };
    let mut page = Vec::with_capacity(size.min(64));
    let mut more = false;
    for item in items {
        if !token.is_empty() && key(&item).as_str() <= token {
            continue;
        }
        if page.len() == size {
            more = true;
            break;
        }
        page.push(item);
    }
    let next = if more {
        page.last().map(&key).unwrap_or_default()
    } else {
        String::new()
    };
    (page, next)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn walks_all_pages_once() {
        let items: Vec<String> = (0..25).map(|i| format!("k{i:02}")).collect();
        let mut token = String::new();
        let mut seen = Vec::new();
        loop {
            let (page, next) = paginate(items.clone(), |s| s.clone(), 10, &token);
            seen.extend(page);
            if next.is_empty() {
                break;
            }
            token = next;
        }
        assert_eq!(seen, items);
    }
}
