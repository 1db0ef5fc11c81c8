//! `DynamoDirectoryStore`: links by Entra id, writes, reads, and users by
//! user name.

mod links;
mod reads;
mod user_names;
mod writes;
