//! `DynamoDirectoryStore`: links by Entra id, writes, and reads.

mod links;
mod reads;
mod writes;
