//! The access-trace format (format 1 of `tiering-trace-format.md`): a CSV file with the
//! header `ts,op,bucket,key,size,range_len`, read as RFC 4180 with the `csv` crate.
//!
//! The reader checks what the format promises and the replay relies on: the exact header,
//! six fields a row, a known op, integer sizes, a `range_len` only on GET, and timestamps
//! that never go backwards. It reads any `std::io::Read`; opening files is the caller's.

use std::io::Read;

/// The exact header of a trace.
pub const TRACE_HEADER: [&str; 6] = ["ts", "op", "bucket", "key", "size", "range_len"];

/// A request in a trace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// Creates or overwrites an object.
    Put,
    /// Reads an object, whole or a range.
    Get,
    /// Reads an object's metadata.
    Head,
    /// Deletes an object.
    Delete,
}

/// One row of a trace.
#[derive(Debug, Clone, PartialEq)]
pub struct TraceEvent {
    /// Seconds since the start of the trace.
    pub ts: f64,
    /// The request.
    pub op: Op,
    /// Bucket name.
    pub bucket: String,
    /// Object key.
    pub key: String,
    /// Object size in bytes (the new size on PUT).
    pub size: u64,
    /// Bytes read by a range GET; `None` for a whole-object GET and other ops.
    pub range_len: Option<u64>,
}

impl TraceEvent {
    /// Bytes this event reads: the range (clamped to the size) or the whole object for a
    /// GET, 0 otherwise.
    pub fn bytes_read(&self) -> u64 {
        match (self.op, self.range_len) {
            (Op::Get, Some(r)) => r.min(self.size),
            (Op::Get, None) => self.size,
            _ => 0,
        }
    }
}

/// A trace that does not follow the format.
#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    /// The CSV layer failed (I/O or malformed quoting).
    #[error("trace: {0}")]
    Csv(#[from] csv::Error),
    /// The header is not `ts,op,bucket,key,size,range_len`.
    #[error("trace: bad header {0:?} (want ts,op,bucket,key,size,range_len)")]
    Header(Vec<String>),
    /// A row breaks the format.
    #[error("trace line {line}: {message}")]
    Row {
        /// 1-based line number (the header is line 1).
        line: u64,
        /// What is wrong.
        message: String,
    },
}

/// Reads a trace row by row.
pub struct TraceReader<R: Read> {
    rows: csv::StringRecordsIntoIter<R>,
    line: u64,
    last_ts: f64,
}

impl<R: Read> std::fmt::Debug for TraceReader<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TraceReader")
            .field("line", &self.line)
            .field("last_ts", &self.last_ts)
            .finish_non_exhaustive()
    }
}

impl<R: Read> TraceReader<R> {
    /// Checks the header and returns a reader positioned on the first row.
    pub fn new(input: R) -> Result<Self, TraceError> {
        let mut rd = csv::ReaderBuilder::new()
            .has_headers(true)
            .flexible(true)
            .from_reader(input);
        let header: Vec<String> = rd.headers()?.iter().map(|h| h.trim().to_string()).collect();
        if header != TRACE_HEADER {
            return Err(TraceError::Header(header));
        }
        Ok(TraceReader {
            rows: rd.into_records(),
            line: 1,
            last_ts: 0.0,
        })
    }

    fn row(&mut self, rec: &csv::StringRecord) -> Result<TraceEvent, TraceError> {
        let line = rec.position().map_or(self.line, |p| p.line());
        let bad = |message: String| TraceError::Row { line, message };
        if rec.len() != 6 {
            return Err(bad(format!("{} fields, want 6", rec.len())));
        }
        let ts: f64 = rec[0]
            .trim()
            .parse()
            .map_err(|_| bad(format!("bad ts {:?}", &rec[0])))?;
        if !ts.is_finite() || ts < 0.0 {
            return Err(bad(format!("bad ts {:?}", &rec[0])));
        }
        if ts < self.last_ts {
            return Err(bad(format!(
                "ts {ts} < previous {} (a trace is non-decreasing)",
                self.last_ts
            )));
        }
        let op = match &rec[1] {
            "PUT" => Op::Put,
            "GET" => Op::Get,
            "HEAD" => Op::Head,
            "DELETE" => Op::Delete,
            other => return Err(bad(format!("unknown op {other:?}"))),
        };
        let size = if rec[4].is_empty() {
            0
        } else {
            rec[4]
                .trim()
                .parse()
                .map_err(|_| bad(format!("bad size {:?}", &rec[4])))?
        };
        let range_len = if rec[5].is_empty() {
            None
        } else {
            if op != Op::Get {
                return Err(bad("range_len on a request other than GET".to_string()));
            }
            Some(
                rec[5]
                    .trim()
                    .parse()
                    .map_err(|_| bad(format!("bad range_len {:?}", &rec[5])))?,
            )
        };
        self.last_ts = ts;
        Ok(TraceEvent {
            ts,
            op,
            bucket: rec[2].to_string(),
            key: rec[3].to_string(),
            size,
            range_len,
        })
    }
}

impl<R: Read> Iterator for TraceReader<R> {
    type Item = Result<TraceEvent, TraceError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let rec = match self.rows.next()? {
                Ok(r) => r,
                Err(e) => return Some(Err(e.into())),
            };
            self.line += 1;
            // A blank line is skipped, as the scorer does.
            if rec.len() == 1 && rec[0].is_empty() {
                continue;
            }
            return Some(self.row(&rec));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> Result<Vec<TraceEvent>, TraceError> {
        TraceReader::new(text.as_bytes())?.collect()
    }

    #[test]
    fn rows_parse_with_quoting_and_ranges() {
        let t = "ts,op,bucket,key,size,range_len\n\
                 1.5,PUT,b,\"a,b\",100,\n\
                 2.000,GET,b,\"a,b\",100,10\n\
                 3,HEAD,b,\"a,b\",100,\n\
                 4,DELETE,b,\"a,b\",100,\n";
        let ev = read(t).unwrap();
        assert_eq!(ev.len(), 4);
        assert_eq!(ev[0].key, "a,b");
        assert_eq!(ev[1].range_len, Some(10));
        assert_eq!(ev[1].bytes_read(), 10);
        assert_eq!(ev[3].op, Op::Delete);
    }

    #[test]
    fn format_breaks_are_refused() {
        assert!(matches!(
            read("ts,op,bucket,key,size\n"),
            Err(TraceError::Header(_))
        ));
        let back = "ts,op,bucket,key,size,range_len\n2,PUT,b,k,1,\n1,PUT,b,j,1,\n";
        assert!(matches!(read(back), Err(TraceError::Row { line: 3, .. })));
        let op = "ts,op,bucket,key,size,range_len\n1,POST,b,k,1,\n";
        assert!(read(op).is_err());
        let range = "ts,op,bucket,key,size,range_len\n1,PUT,b,k,1,5\n";
        assert!(read(range).is_err());
    }
}
