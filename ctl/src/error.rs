//! [`CtlError`]: every way a chatctl command fails, and the documented exit
//! code each maps to.

use chat_client::ClientError;
use chat_protocol::ErrorCode;

/// Exit code: success.
pub const EXIT_OK: u8 = 0;
/// Exit code: any failure not covered by a more specific code.
pub const EXIT_ERROR: u8 = 1;
/// Exit code: the command line was wrong (clap uses 2 as well).
pub const EXIT_USAGE: u8 = 2;
/// Exit code: a user, room, message or token does not exist.
pub const EXIT_NOT_FOUND: u8 = 3;
/// Exit code: authentication, trust or permission failed (no token, bad
/// token, disabled account, unknown or changed server certificate, a role
/// too low, not a member of the room, banned, muted or blocked).
pub const EXIT_AUTH: u8 = 4;
/// Exit code: the request conflicts with the current state (the thing to
/// create already exists, the room is archived, you already left, the user
/// to add is banned).
pub const EXIT_CONFLICT: u8 = 5;

/// Why a command failed. The `Display` text says what was wrong and what to do.
#[derive(Debug, thiserror::Error)]
pub enum CtlError {
    /// A request or connection failed; `context` says what chatctl was doing.
    #[error("{context}: {source}")]
    Client {
        /// What was being done, e.g. `cannot create user alice`.
        context: String,
        /// The SDK's error (boxed: it is large and errors are rare).
        source: Box<ClientError>,
    },
    /// The command line is well-formed for clap but its values are not
    /// usable (a bad date, missing text).
    #[error("{0}")]
    Usage(String),
    /// Something named on the command line does not exist.
    #[error("{0}")]
    NotFound(String),
    /// No usable credentials.
    #[error("{0}")]
    Auth(String),
    /// The request conflicts with the current state (exit 5); the text
    /// says what the state is and what to do.
    #[error("{0}")]
    Conflict(String),
    /// The server does not offer this feature yet (see `cmd::unsupported`).
    #[error(
        "{0} is not supported yet (by this chatd/chatctl); use the server API directly or upgrade when it lands"
    )]
    Unsupported(&'static str),
    /// A local file or terminal operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The cause.
        source: std::io::Error,
    },
    /// A configuration or input file is malformed.
    #[error("{0}")]
    Invalid(String),
    /// The command ran but did not fully succeed (e.g. an import with
    /// rejected lines); details were already printed.
    #[error("{0}")]
    Partial(String),
    /// stdout was closed by the reader (e.g. `| head`); not an error worth
    /// a message.
    #[error("output closed")]
    BrokenPipe,
}

impl CtlError {
    /// Wraps an SDK error with what chatctl was doing.
    pub fn client(context: impl Into<String>, source: ClientError) -> CtlError {
        CtlError::Client {
            context: context.into(),
            source: Box::new(source),
        }
    }

    /// Wraps an I/O error with what chatctl was doing; a closed stdout
    /// becomes [`CtlError::BrokenPipe`].
    pub fn io(context: impl Into<String>, source: std::io::Error) -> CtlError {
        if source.kind() == std::io::ErrorKind::BrokenPipe {
            return CtlError::BrokenPipe;
        }
        CtlError::Io {
            context: context.into(),
            source,
        }
    }

    /// The documented exit code: 1 error, 2 usage, 3 not found,
    /// 4 authentication or permission, 5 conflict.
    pub fn exit_code(&self) -> u8 {
        match self {
            CtlError::Client { source, .. } => client_exit_code(source),
            CtlError::Usage(_) => EXIT_USAGE,
            CtlError::NotFound(_) => EXIT_NOT_FOUND,
            CtlError::Auth(_) => EXIT_AUTH,
            CtlError::Conflict(_) => EXIT_CONFLICT,
            CtlError::BrokenPipe => EXIT_OK,
            CtlError::Unsupported(_)
            | CtlError::Io { .. }
            | CtlError::Invalid(_)
            | CtlError::Partial(_) => EXIT_ERROR,
        }
    }
}

/// The exit code for an SDK error: from the server's [`ErrorCode`] when
/// there is one, otherwise from the kind of local failure.
///
/// The rule: 4 when the caller lacks a right (`Forbidden`, `NotMember`,
/// `Banned`, `Muted`, `Blocked`, and the authentication codes); 5 when the
/// request conflicts with the state of the thing (`Conflict`, `Archived`).
/// Commands where a code means a conflict rather than a missing right
/// (`room leave` twice, `room add` of a banned user) convert it to
/// [`CtlError::Conflict`] themselves. The table in README.md ("Exit codes")
/// is checked by `tests/e2e/ctl_exit_codes.rs`.
pub fn client_exit_code(err: &ClientError) -> u8 {
    match err.code() {
        Some(ErrorCode::NotFound) => EXIT_NOT_FOUND,
        Some(
            ErrorCode::AuthFailed
            | ErrorCode::Unauthenticated
            | ErrorCode::AccountDisabled
            | ErrorCode::Forbidden
            | ErrorCode::NotMember
            | ErrorCode::Banned
            | ErrorCode::Muted
            | ErrorCode::Blocked,
        ) => EXIT_AUTH,
        Some(ErrorCode::Conflict | ErrorCode::Archived) => EXIT_CONFLICT,
        Some(ErrorCode::BadRequest | ErrorCode::InvalidName) => EXIT_USAGE,
        Some(_) => EXIT_ERROR,
        None => match err {
            ClientError::UnknownHostRejected { .. }
            | ClientError::CertificateChanged { .. }
            | ClientError::CaFile { .. }
            | ClientError::Tls { .. }
            | ClientError::LoggedOut(_) => EXIT_AUTH,
            ClientError::Address { .. } => EXIT_USAGE,
            _ => EXIT_ERROR,
        },
    }
}

/// Result alias for chatctl commands.
pub type Result<T, E = CtlError> = std::result::Result<T, E>;
