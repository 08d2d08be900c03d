//! Pages of lists and history, capped by count and by bytes
//! ([`chat_protocol::MAX_PAGE_BYTES`]), so no answer outgrows a frame.

use chat_protocol::{ErrorBody, ErrorCode, MAX_PAGE_BYTES, MAX_PAGE_ITEMS, Page, PageRequest};
use serde::Serialize;

/// Checks a page request's `limit`.
///
/// # Errors
/// [`ErrorCode::BadRequest`] for a limit of 0 or above [`MAX_PAGE_ITEMS`].
pub(crate) fn check(page: &PageRequest) -> Result<(), ErrorBody> {
    if page.limit == 0 || page.limit > MAX_PAGE_ITEMS {
        return Err(ErrorBody::new(
            ErrorCode::BadRequest,
            format!(
                "a page limit must be 1 to {MAX_PAGE_ITEMS}, not {}; ask for a smaller page",
                page.limit
            ),
        ));
    }
    Ok(())
}

/// Fills one page in cursor order: items are offered with the key a later
/// page resumes after, until the count or the byte budget is reached.
pub(crate) struct PageBuilder<T> {
    items: Vec<T>,
    bytes: usize,
    limit: usize,
    budget: usize,
    last: Option<u64>,
    next: Option<u64>,
}

impl<T: Serialize> PageBuilder<T> {
    /// An empty page of at most `limit` items and [`MAX_PAGE_BYTES`].
    pub(crate) fn new(limit: u32) -> PageBuilder<T> {
        PageBuilder::with_budget(limit as usize, MAX_PAGE_BYTES)
    }

    /// An empty page of at most `limit` items and `budget` bytes of items.
    pub(crate) fn with_budget(limit: usize, budget: usize) -> PageBuilder<T> {
        PageBuilder {
            items: Vec::new(),
            bytes: 0,
            limit: limit.max(1),
            budget,
            last: None,
            next: None,
        }
    }

    /// Takes `item` (at cursor `key`) if the page has room; the first item
    /// is always taken. Returns `false` once the page is full: the item was
    /// not taken, the page's `next` is set, and the caller stops.
    pub(crate) fn offer(&mut self, key: u64, item: T) -> bool {
        let len = chat_protocol::frame::encoded_len(&item);
        if !self.items.is_empty()
            && (self.items.len() >= self.limit || self.bytes.saturating_add(len) > self.budget)
        {
            self.next = self.last;
            return false;
        }
        self.bytes = self.bytes.saturating_add(len);
        self.items.push(item);
        self.last = Some(key);
        true
    }

    /// The page: `next` is `None` only if no item was refused.
    pub(crate) fn finish(self) -> Page<T> {
        Page {
            items: self.items,
            next: self.next,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_stops_at_its_count_or_its_bytes_and_always_takes_one() {
        let mut p = PageBuilder::new(2);
        assert!(p.offer(1, "a"));
        assert!(p.offer(5, "b"));
        assert!(!p.offer(7, "c"));
        let page = p.finish();
        assert_eq!((page.items, page.next), (vec!["a", "b"], Some(5)));

        let big = "x".repeat(100);
        let mut p = PageBuilder::with_budget(10, 150);
        assert!(p.offer(1, big.clone()), "the first item always fits");
        assert!(!p.offer(2, big.clone()));
        assert_eq!(p.finish().next, Some(1));

        let mut p = PageBuilder::new(10);
        assert!(p.offer(3, 1u8));
        assert_eq!(
            p.finish().next,
            None,
            "a page nothing was refused from is the last"
        );
    }
}
