//! The diagnosis key model and the upload validation rules.
//! (Being built: see formats.md §e.)

/// How a diagnosis was established (GAEN export, EFGS and Google federation share these numbers).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ReportType {
    /// Not known.
    Unknown = 0,
    /// A positive test.
    ConfirmedTest = 1,
    /// A clinical diagnosis without a test.
    ConfirmedClinicalDiagnosis = 2,
    /// Reported by the user.
    SelfReport = 3,
    /// Recursive (contact of a case).
    Recursive = 4,
    /// The key was revoked.
    Revoked = 5,
}

impl ReportType {
    /// The wire number.
    pub fn number(self) -> i32 {
        self as i32
    }

    /// From a wire number; `None` for numbers no format defines.
    pub fn from_number(n: i32) -> Option<Self> {
        Some(match n {
            0 => Self::Unknown,
            1 => Self::ConfirmedTest,
            2 => Self::ConfirmedClinicalDiagnosis,
            3 => Self::SelfReport,
            4 => Self::Recursive,
            5 => Self::Revoked,
            _ => return None,
        })
    }
}
