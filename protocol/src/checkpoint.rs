//! C2SP signed notes and transparency-log checkpoints.
//! (Being built: see formats.md §i.4.)
