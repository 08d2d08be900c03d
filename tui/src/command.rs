//! Slash commands: the [`Command`] enum, its parser, and the list of
//! commands whose server feature has not landed yet.

use std::fmt;

/// A parsed slash command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `/join ROOM`: join a group room.
    Join(String),
    /// `/leave [ROOM]`: leave a room, the current one by default.
    Leave(Option<String>),
    /// `/create NAME [private]`: create a group room.
    Create {
        /// The room name.
        name: String,
        /// Whether it is private (unlisted).
        private: bool,
    },
    /// `/invite USER`: add a user to the current room.
    Invite(String),
    /// `/dm USER`: open the direct room with a user.
    Dm(String),
    /// `/topic TEXT`: set the current room's topic.
    Topic(String),
    /// `/edit TEXT`: replace the selected message (if yours) or your last one.
    Edit(String),
    /// `/delete`: delete the selected message or your last one, after
    /// asking.
    Delete,
    /// `/react EMOJI`: toggle a reaction on the selected or latest message.
    React(String),
    /// `/reply TEXT`: answer the selected message or the latest from
    /// someone else.
    Reply(String),
    /// `/who`: show the member list.
    Who,
    /// `/away`: mark yourself away, or back if away.
    Away,
    /// `/contacts`: list your contacts.
    Contacts,
    /// `/reconnect`: connect again now instead of waiting for the next try.
    Reconnect,
    /// `/search TEXT`: search messages.
    Search(String),
    /// `/upload PATH`: send a file.
    Upload(String),
    /// `/download`: save the files of the selected message (or of the
    /// newest message with files) into the download folder.
    Download,
    /// `/open`: save the first file of the selected message (or of the
    /// newest message with files) and hand it to `xdg-open`.
    Open,
    /// `/quit`.
    Quit,
    /// `/help`.
    Help,
    /// `/mute USER`: the user may read but not send here (room admins).
    Mute(String),
    /// `/unmute USER`: let a muted user send again.
    Unmute(String),
    /// `/unban USER`: lift a ban in the current room.
    Unban(String),
    /// `/role USER member|admin`: set a member's role (the owner).
    Role {
        /// The member.
        user: String,
        /// `true` for admin, `false` for member.
        admin: bool,
    },
    /// `/transfer USER`: make USER the owner; you become an admin.
    Transfer(String),
    /// `/visibility public|private` (the owner).
    Visibility {
        /// Whether the room becomes private.
        private: bool,
    },
    /// `/name DISPLAY NAME`: your own display name (empty: your username).
    Name(String),
    /// `/password`: change your password, asked for in masked steps
    /// (current, new, new again). Your other sessions end.
    Password,
}

/// A command's name, without its arguments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CommandName {
    /// `/join`
    Join,
    /// `/leave`
    Leave,
    /// `/create`
    Create,
    /// `/invite`
    Invite,
    /// `/dm`
    Dm,
    /// `/topic`
    Topic,
    /// `/edit`
    Edit,
    /// `/delete`
    Delete,
    /// `/react`
    React,
    /// `/reply`
    Reply,
    /// `/who`
    Who,
    /// `/away`
    Away,
    /// `/contacts`
    Contacts,
    /// `/reconnect`
    Reconnect,
    /// `/search`
    Search,
    /// `/upload`
    Upload,
    /// `/download`
    Download,
    /// `/open`
    Open,
    /// `/quit`
    Quit,
    /// `/help`
    Help,
    /// `/mute`
    Mute,
    /// `/unmute`
    Unmute,
    /// `/unban`
    Unban,
    /// `/role`
    Role,
    /// `/transfer`
    Transfer,
    /// `/visibility`
    Visibility,
    /// `/name`
    Name,
    /// `/password`
    Password,
}

/// Commands whose server feature does not exist yet. Running one shows a
/// status message saying so. Remove an entry when its feature lands.
pub const NOT_YET_SUPPORTED: &[CommandName] = &[];

/// Name, usage and description (at most 25 columns) of every command, in
/// help-screen order.
pub const COMMANDS: &[(CommandName, &str, &str)] = &[
    (CommandName::Join, "/join ROOM", "join a group room"),
    (
        CommandName::Leave,
        "/leave [ROOM]",
        "leave this room or ROOM",
    ),
    (
        CommandName::Create,
        "/create NAME [private]",
        "create a group room",
    ),
    (CommandName::Invite, "/invite USER", "add USER to this room"),
    (CommandName::Dm, "/dm USER", "direct chat with a user"),
    (CommandName::Topic, "/topic TEXT", "set this room's topic"),
    (CommandName::Edit, "/edit TEXT", "edit selected/your last"),
    (CommandName::Delete, "/delete", "delete selected/your last"),
    (
        CommandName::React,
        "/react EMOJI",
        "react to selected/latest",
    ),
    (CommandName::Reply, "/reply TEXT", "answer selected/latest"),
    (CommandName::Who, "/who", "list this room's members"),
    (CommandName::Away, "/away", "set away / back"),
    (CommandName::Contacts, "/contacts", "list your contacts"),
    (CommandName::Reconnect, "/reconnect", "connect again now"),
    (CommandName::Search, "/search TEXT", "search messages"),
    (CommandName::Upload, "/upload PATH", "send a file"),
    (CommandName::Download, "/download", "save selected's files"),
    (CommandName::Open, "/open", "save and open its file"),
    (CommandName::Mute, "/mute USER", "USER may only read here"),
    (CommandName::Unmute, "/unmute USER", "let USER send again"),
    (CommandName::Unban, "/unban USER", "lift USER's ban here"),
    (
        CommandName::Role,
        "/role USER member|admin",
        "set USER's role here",
    ),
    (
        CommandName::Transfer,
        "/transfer USER",
        "make USER the owner",
    ),
    (
        CommandName::Visibility,
        "/visibility public|private",
        "who may find/join this",
    ),
    (
        CommandName::Name,
        "/name DISPLAY NAME",
        "set your display name",
    ),
    (CommandName::Password, "/password", "change your password"),
    (CommandName::Quit, "/quit", "quit"),
    (CommandName::Help, "/help", "show keys and commands"),
];

impl CommandName {
    /// The name as typed, without the slash.
    pub fn as_str(self) -> &'static str {
        match self {
            CommandName::Join => "join",
            CommandName::Leave => "leave",
            CommandName::Create => "create",
            CommandName::Invite => "invite",
            CommandName::Dm => "dm",
            CommandName::Topic => "topic",
            CommandName::Edit => "edit",
            CommandName::Delete => "delete",
            CommandName::React => "react",
            CommandName::Reply => "reply",
            CommandName::Who => "who",
            CommandName::Away => "away",
            CommandName::Contacts => "contacts",
            CommandName::Reconnect => "reconnect",
            CommandName::Search => "search",
            CommandName::Upload => "upload",
            CommandName::Download => "download",
            CommandName::Open => "open",
            CommandName::Quit => "quit",
            CommandName::Help => "help",
            CommandName::Mute => "mute",
            CommandName::Unmute => "unmute",
            CommandName::Unban => "unban",
            CommandName::Role => "role",
            CommandName::Transfer => "transfer",
            CommandName::Visibility => "visibility",
            CommandName::Name => "name",
            CommandName::Password => "password",
        }
    }

    /// The usage line, e.g. `/join ROOM`.
    pub fn usage(self) -> &'static str {
        COMMANDS
            .iter()
            .find(|(n, _, _)| *n == self)
            .map_or("", |(_, u, _)| u)
    }

    /// Whether the help screen lists this command by name only (room
    /// moderation and your own account), to keep the list on one screen.
    pub fn compact_in_help(self) -> bool {
        matches!(
            self,
            CommandName::Mute
                | CommandName::Unmute
                | CommandName::Unban
                | CommandName::Role
                | CommandName::Transfer
                | CommandName::Visibility
                | CommandName::Name
                | CommandName::Password
        )
    }

    /// Whether the server supports this command's feature yet.
    pub fn supported(self) -> bool {
        !NOT_YET_SUPPORTED.contains(&self)
    }

    fn parse(name: &str) -> Option<CommandName> {
        COMMANDS
            .iter()
            .map(|(n, _, _)| *n)
            .find(|n| n.as_str().eq_ignore_ascii_case(name))
    }
}

impl fmt::Display for CommandName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "/{}", self.as_str())
    }
}

/// Why a line starting with `/` is not a valid command.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    /// No such command.
    #[error(
        "unknown command /{0}; type /help for the list (start with // to send a line beginning with /)"
    )]
    Unknown(String),
    /// Wrong arguments.
    #[error("{problem}; usage: {usage}")]
    Usage {
        /// What was wrong.
        problem: String,
        /// The usage line.
        usage: &'static str,
    },
}

impl Command {
    /// Parses input that starts with `/`. Returns `None` for text that is
    /// not a command: anything not starting with `/`, or starting with `//`
    /// (which sends the text with one slash removed, see [`unescape`]).
    ///
    /// # Errors
    /// [`CommandError`] for an unknown command or bad arguments, with the usage.
    pub fn parse(input: &str) -> Option<Result<Command, CommandError>> {
        let rest = input.strip_prefix('/')?;
        if rest.starts_with('/') {
            return None;
        }
        let rest = rest.trim();
        let (name, args) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
        let args = args.trim();
        let Some(cmd) = CommandName::parse(name) else {
            return Some(Err(CommandError::Unknown(name.to_string())));
        };
        Some(parse_args(cmd, args))
    }

    /// This command's name.
    pub fn name(&self) -> CommandName {
        match self {
            Command::Join(_) => CommandName::Join,
            Command::Leave(_) => CommandName::Leave,
            Command::Create { .. } => CommandName::Create,
            Command::Invite(_) => CommandName::Invite,
            Command::Dm(_) => CommandName::Dm,
            Command::Topic(_) => CommandName::Topic,
            Command::Edit(_) => CommandName::Edit,
            Command::Delete => CommandName::Delete,
            Command::React(_) => CommandName::React,
            Command::Reply(_) => CommandName::Reply,
            Command::Who => CommandName::Who,
            Command::Away => CommandName::Away,
            Command::Contacts => CommandName::Contacts,
            Command::Reconnect => CommandName::Reconnect,
            Command::Search(_) => CommandName::Search,
            Command::Upload(_) => CommandName::Upload,
            Command::Download => CommandName::Download,
            Command::Open => CommandName::Open,
            Command::Quit => CommandName::Quit,
            Command::Help => CommandName::Help,
            Command::Mute(_) => CommandName::Mute,
            Command::Unmute(_) => CommandName::Unmute,
            Command::Unban(_) => CommandName::Unban,
            Command::Role { .. } => CommandName::Role,
            Command::Transfer(_) => CommandName::Transfer,
            Command::Visibility { .. } => CommandName::Visibility,
            Command::Name(_) => CommandName::Name,
            Command::Password => CommandName::Password,
        }
    }
}

/// Text typed as `//…` is sent with its first slash removed.
pub fn unescape(input: &str) -> &str {
    if input.starts_with("//") {
        &input[1..]
    } else {
        input
    }
}

fn parse_args(cmd: CommandName, args: &str) -> Result<Command, CommandError> {
    let usage = |problem: &str| CommandError::Usage {
        problem: format!("{cmd}: {problem}"),
        usage: cmd.usage(),
    };
    let words: Vec<&str> = args.split_whitespace().collect();
    let one_word = |what: &str| match words.as_slice() {
        [w] => Ok(w.trim_start_matches(['#', '@']).to_string()),
        [] => Err(usage(&format!("missing {what}"))),
        _ => Err(usage(&format!("expected one {what}, got {}", words.len()))),
    };
    let text = |what: &str| {
        if args.is_empty() {
            Err(usage(&format!("missing {what}")))
        } else {
            Ok(args.to_string())
        }
    };
    let none = |c: Command| {
        if args.is_empty() {
            Ok(c)
        } else {
            Err(usage("takes no arguments"))
        }
    };
    match cmd {
        CommandName::Join => one_word("room name").map(Command::Join),
        CommandName::Leave => match words.as_slice() {
            [] => Ok(Command::Leave(None)),
            _ => one_word("room name").map(|r| Command::Leave(Some(r))),
        },
        CommandName::Create => match words.as_slice() {
            [name] => Ok(Command::Create {
                name: name.trim_start_matches('#').to_string(),
                private: false,
            }),
            [name, "private"] => Ok(Command::Create {
                name: name.trim_start_matches('#').to_string(),
                private: true,
            }),
            [_, other] => Err(usage(&format!(
                "unknown option {other:?}; the only option is \"private\""
            ))),
            [] => Err(usage("missing room name")),
            _ => Err(usage("too many arguments")),
        },
        CommandName::Invite => one_word("username").map(Command::Invite),
        CommandName::Dm => one_word("username").map(Command::Dm),
        CommandName::Topic => text("topic text").map(Command::Topic),
        CommandName::Edit => text("new text").map(Command::Edit),
        CommandName::Delete => none(Command::Delete),
        CommandName::React => match words.as_slice() {
            [emoji] => Ok(Command::React((*emoji).to_string())),
            [] => Err(usage("missing emoji")),
            _ => Err(usage("expected one emoji")),
        },
        CommandName::Reply => text("reply text").map(Command::Reply),
        CommandName::Who => none(Command::Who),
        CommandName::Away => none(Command::Away),
        CommandName::Contacts => none(Command::Contacts),
        CommandName::Reconnect => none(Command::Reconnect),
        CommandName::Search => text("search text").map(Command::Search),
        CommandName::Upload => text("file path").map(Command::Upload),
        CommandName::Download => none(Command::Download),
        CommandName::Open => none(Command::Open),
        CommandName::Quit => none(Command::Quit),
        CommandName::Help => none(Command::Help),
        CommandName::Mute => one_word("username").map(Command::Mute),
        CommandName::Unmute => one_word("username").map(Command::Unmute),
        CommandName::Unban => one_word("username").map(Command::Unban),
        CommandName::Role => match words.as_slice() {
            [user, role] => {
                let admin = match role.to_ascii_lowercase().as_str() {
                    "admin" => true,
                    "member" => false,
                    other => {
                        return Err(usage(&format!(
                            "unknown role {other:?}; use member or admin (/transfer hands over ownership)"
                        )));
                    }
                };
                Ok(Command::Role {
                    user: user.trim_start_matches('@').to_string(),
                    admin,
                })
            }
            _ => Err(usage("expected a username and a role")),
        },
        CommandName::Transfer => one_word("username").map(Command::Transfer),
        CommandName::Visibility => match words.as_slice() {
            [v] if v.eq_ignore_ascii_case("public") => Ok(Command::Visibility { private: false }),
            [v] if v.eq_ignore_ascii_case("private") => Ok(Command::Visibility { private: true }),
            _ => Err(usage("expected public or private")),
        },
        CommandName::Name => Ok(Command::Name(args.to_string())),
        // Passwords are asked for afterwards, masked: typed here they
        // would show on screen.
        CommandName::Password => match words.as_slice() {
            [] => Ok(Command::Password),
            _ => Err(usage(
                "type /password alone; it then asks for each password with the input hidden",
            )),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Command, CommandError> {
        Command::parse(s).expect("is a command")
    }

    #[test]
    fn parses_every_command() {
        assert_eq!(parse("/join #ops"), Ok(Command::Join("ops".into())));
        assert_eq!(parse("/leave"), Ok(Command::Leave(None)));
        assert_eq!(
            parse("/create ward-7 private"),
            Ok(Command::Create {
                name: "ward-7".into(),
                private: true
            })
        );
        assert_eq!(parse("/dm @bob"), Ok(Command::Dm("bob".into())));
        assert_eq!(
            parse("/reply  sure thing "),
            Ok(Command::Reply("sure thing".into()))
        );
        assert_eq!(parse("/react 👍"), Ok(Command::React("👍".into())));
        assert_eq!(parse("/away"), Ok(Command::Away));
        assert_eq!(parse("/QUIT"), Ok(Command::Quit));
        for (name, _, _) in COMMANDS {
            assert!(Command::parse(&format!("/{}", name.as_str())).is_some());
        }
    }

    #[test]
    fn not_commands() {
        assert_eq!(Command::parse("hello"), None);
        assert_eq!(Command::parse("//etc/hosts is here"), None);
        assert_eq!(unescape("//etc/hosts"), "/etc/hosts");
    }

    #[test]
    fn usage_errors_are_clear() {
        let e = parse("/join").unwrap_err().to_string();
        assert_eq!(e, "/join: missing room name; usage: /join ROOM");
        let e = parse("/dm bob carol").unwrap_err().to_string();
        assert!(e.contains("expected one username, got 2"), "{e}");
        let e = parse("/create x public").unwrap_err().to_string();
        assert!(e.contains("unknown option \"public\""), "{e}");
        let e = parse("/frobnicate").unwrap_err().to_string();
        assert!(e.starts_with("unknown command /frobnicate"), "{e}");
        assert!(parse("/who me").is_err());
    }

    #[test]
    fn moderation_and_self_service_commands() {
        assert_eq!(parse("/mute @bob"), Ok(Command::Mute("bob".into())));
        assert_eq!(parse("/unmute bob"), Ok(Command::Unmute("bob".into())));
        assert_eq!(parse("/unban bob"), Ok(Command::Unban("bob".into())));
        assert_eq!(
            parse("/role bob Admin"),
            Ok(Command::Role {
                user: "bob".into(),
                admin: true
            })
        );
        assert!(parse("/role bob owner").is_err());
        assert_eq!(parse("/transfer bob"), Ok(Command::Transfer("bob".into())));
        assert_eq!(
            parse("/visibility private"),
            Ok(Command::Visibility { private: true })
        );
        assert_eq!(
            parse("/name 김 간호사"),
            Ok(Command::Name("김 간호사".into()))
        );
        assert_eq!(parse("/password"), Ok(Command::Password));
        let e = parse("/password hunter2").unwrap_err().to_string();
        assert!(!e.contains("hunter2"), "{e}");
    }

    #[test]
    fn unsupported_list() {
        assert!(CommandName::Search.supported());
        assert!(CommandName::Edit.supported());
        assert!(CommandName::Join.supported());
    }
}
