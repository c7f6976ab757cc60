//! The EU Federation Gateway (EFGS): canonical batch signing bytes.
//! (Being built: see formats.md §g.)
