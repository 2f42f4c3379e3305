// Package mail turns the library's notifications into emails and delivers
// them. A *Mailer implements usermgmt.Sender: the delivery worker hands it
// a usermgmt.Notification, and it renders a subject, a plain-text body
// (text/template) and an HTML body (html/template) from templates, builds
// a Message and passes it to a Transport.
//
// # Templates
//
// English templates for every kind are embedded. Config.Templates
// overrides any of them and adds languages, as LOCALE/KIND.PART.tmpl files
// (see Config.Templates and TemplateData). A notification's Locale picks
// the set: "de-CH" tries de-ch, then de, then Config.DefaultLocale. New
// parses every template and executes it against sample data, so a broken
// template fails New, never a send.
//
// # Messages
//
// Every message is multipart/alternative (text, then HTML), goes to
// exactly the notification's To, and carries the Message-ID
// <ID@domain-of-From>, the same on every attempt to deliver one
// notification so that receivers can drop a duplicate. Names and other
// user-supplied text are made one line before they reach a template or a
// header, so they can never add a header; addresses are checked with
// net/mail.
//
// # Transports
//
// SMTP sends through github.com/wneessen/go-mail, keeping connections open
// between messages; its errors tell the worker what to retry (see
// SMTPTransport). LogTransport logs messages, links included, for
// development only. An application plugs in another service (Amazon SES,
// say) by implementing Transport.
//
// # Errors
//
// An error that retrying cannot fix is marked with usermgmt.Permanent: a
// notification that cannot be rendered (ErrInvalidNotification) or a 5xx
// reply to the message. Every other error is worth retrying. No error
// contains a token or link.
package mail
