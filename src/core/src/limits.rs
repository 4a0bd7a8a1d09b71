//! Every limit of the S3 surface, named once.

/// Longest object key, in bytes of UTF-8 (S3: 1024).
pub const KEY_BYTES_MAX: usize = 1024;
/// Largest single PUT body (S3: 5 GiB).
pub const PUT_BYTES_MAX: u64 = 5 * 1024 * 1024 * 1024;
/// Largest multipart part (S3: 5 GiB).
pub const PART_BYTES_MAX: u64 = 5 * 1024 * 1024 * 1024;
/// Smallest part other than the last one in a completed multipart upload (S3: 5 MiB).
pub const PART_BYTES_MIN: u64 = 5 * 1024 * 1024;
/// Highest part number (S3: 10,000).
pub const PART_NUMBER_MAX: u32 = 10_000;
/// Largest object assembled by multipart upload (S3: 5 TiB).
pub const OBJECT_BYTES_MAX: u64 = 5 * 1024 * 1024 * 1024 * 1024;
/// Total size of user metadata (`x-amz-meta-*` names and values), in bytes (S3: 2 KB).
pub const USER_METADATA_BYTES_MAX: usize = 2048;
/// Most keys returned by one listing page (S3: 1000).
pub const LIST_KEYS_MAX: usize = 1000;
/// Most keys in one DeleteObjects request (S3: 1000).
pub const DELETE_OBJECTS_KEYS_MAX: usize = 1000;
