//! Multi-node integration tests: real nodes, real libp2p on 127.0.0.1, real
//! sled stores in temporary folders. One test binary, so one link.

mod veim {
    pub mod accounts;
    pub mod addresses;
    pub mod admin;
    pub mod attachments;
    pub mod audit;
    pub mod backup;
    pub mod browser;
    pub mod console;
    pub mod console_browser;
    pub mod console_compose;
    pub mod console_directory;
    pub mod console_terms;
    pub mod contacts;
    pub mod crash;
    pub mod directory;
    pub mod durability;
    pub mod exchange;
    pub mod hostile;
    pub mod interop;
    pub mod lifecycle;
    pub mod mail;
    pub mod multihost;
    pub mod outbox;
    pub mod policy;
    pub mod progress;
    pub mod publications;
    pub mod receipts;
    pub mod refusals;
    pub mod reports;
    pub mod terms;
    pub mod upgrade;
    pub mod watch;
}
