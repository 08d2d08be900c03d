//! The network task's message-lifecycle and social effects: edits,
//! deletions, reactions, receipts, typing, presence, contacts and topics.
//! Each runs as its own request; failures become status-line errors.

use super::{Net, failure, send};
use crate::action::{Action, Level};
use crate::effect::Effect;
use crate::state::Presence;
use chat_protocol::ModAction;

impl Net {
    /// Carries out one lifecycle effect; others are ignored.
    pub(super) fn on_lifecycle_effect(&mut self, effect: Effect) {
        match effect {
            Effect::Edit { room, seq, text } => self.request(move |conn, actions| async move {
                if let Err(e) = conn.edit(room, seq, &text).await {
                    send(
                        &actions,
                        failure(format!("could not edit the message: {e}")),
                    )
                    .await;
                }
            }),
            Effect::Delete { room, seq } => self.request(move |conn, actions| async move {
                if let Err(e) = conn.delete(room, seq).await {
                    send(
                        &actions,
                        failure(format!("could not delete the message: {e}")),
                    )
                    .await;
                }
            }),
            Effect::React { room, seq, emoji } => self.request(move |conn, actions| async move {
                if let Err(e) = conn.react(room, seq, &emoji).await {
                    send(&actions, failure(format!("could not react: {e}"))).await;
                }
            }),
            Effect::SetTopic { room, topic } => self.request(move |conn, actions| async move {
                let action = ModAction::SetTopic { topic };
                if let Err(e) = conn.moderate(room, action, "").await {
                    send(&actions, failure(format!("could not set the topic: {e}"))).await;
                }
            }),
            Effect::Moderate { room, action, done } => {
                self.request(move |conn, actions| async move {
                    let status = match conn.moderate(room, action, "").await {
                        Ok(()) => Action::Status(Level::Info, done),
                        Err(e) => failure(format!("could not do that: {e}")),
                    };
                    send(&actions, status).await;
                });
            }
            Effect::ChangePassword { old, new } => self.request(move |conn, actions| async move {
                let status = match conn.change_password(&old.0, &new.0).await {
                    Ok(()) => Action::Status(
                        Level::Info,
                        "password changed; your other sessions have ended".to_owned(),
                    ),
                    Err(e) => failure(format!("could not change your password: {e}")),
                };
                send(&actions, status).await;
            }),
            Effect::SetDisplayName(name) => self.request(move |conn, actions| async move {
                let status = match conn.set_display_name(&name).await {
                    Ok(user) => Action::Status(
                        Level::Info,
                        format!("your display name is now {}", user.author.display_name),
                    ),
                    Err(e) => failure(format!("could not set your display name: {e}")),
                };
                send(&actions, status).await;
            }),
            Effect::SetAway(away) => self.request(move |conn, actions| async move {
                if let Err(e) = conn.set_away(away).await {
                    send(&actions, failure(format!("could not change away: {e}"))).await;
                }
            }),
            Effect::LoadContacts => self.request(move |conn, actions| async move {
                match conn.contacts().await {
                    Ok(list) => send(&actions, Action::Contacts(list)).await,
                    Err(e) => {
                        send(&actions, failure(format!("could not list contacts: {e}"))).await
                    }
                }
            }),
            Effect::LoadPresence { usernames } => self.request(move |conn, actions| async move {
                let names: Vec<&str> = usernames.iter().map(String::as_str).collect();
                match conn.presence(&names).await {
                    Ok(list) => {
                        for info in list {
                            let presence = match info.presence {
                                chat_protocol::Presence::Online => Presence::Online,
                                chat_protocol::Presence::Away => Presence::Away,
                                chat_protocol::Presence::Offline => Presence::Offline,
                            };
                            send(
                                &actions,
                                Action::Presence {
                                    user: info.user,
                                    presence,
                                },
                            )
                            .await;
                        }
                    }
                    Err(e) => tracing::debug!(error = %e, "presence lookup failed"),
                }
            }),
            // Receipts and typing are best effort: a lost one is replaced
            // by the next, so failures are only logged.
            Effect::MarkDelivered { room, seq } => self.quiet(move |conn| async move {
                if let Err(e) = conn.mark_delivered(room, seq).await {
                    tracing::debug!(%room, %seq, error = %e, "mark delivered failed");
                }
            }),
            Effect::Typing { room } => self.quiet(move |conn| async move {
                if let Err(e) = conn.typing(room).await {
                    tracing::debug!(%room, error = %e, "typing notice failed");
                }
            }),
            other => tracing::debug!(?other, "not a lifecycle effect"),
        }
    }

    /// Like `request`, but says nothing when not connected.
    pub(super) fn quiet<F, Fut>(&self, job: F)
    where
        F: FnOnce(chat_client::Connection) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        if let Some(conn) = self.session.connection() {
            tokio::spawn(job(conn));
        }
    }
}
