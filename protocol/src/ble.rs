//! BLE advertisements: AD structures and the service data of GAEN, TCN and Herald.
//! (Being built: see formats.md §a.4, §b.5, §c.6.)
