package mail_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/usermgmt/usermgmt"
	"github.com/usermgmt/usermgmt/mail"
)

// An invitation rendered from the embedded English templates and handed to
// a transport that prints it. In production the transport is mail.SMTP;
// in development, mail.LogTransport.
func Example() {
	printer := mail.TransportFunc(func(_ context.Context, msg *mail.Message) error {
		fmt.Println("From:", msg.From.String())
		fmt.Println("To:", msg.To.Address)
		fmt.Println("Subject:", msg.Subject)
		fmt.Println("Message-ID:", "<"+msg.MessageID+">")
		fmt.Println()
		fmt.Print(msg.Text)
		return nil
	})
	m, err := mail.New(mail.Config{
		AppName:   "Acme Portal",
		From:      "no-reply@acme.example",
		BaseURL:   "https://app.acme.example",
		Transport: printer,
	})
	if err != nil {
		log.Fatal(err)
	}
	issued := time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)
	err = m.Send(context.Background(), usermgmt.Notification{
		ID:          "0193a4b2-7c3d-7e4f-8a9b-0c1d2e3f4a5b",
		Kind:        usermgmt.NotifyInvitation,
		To:          "ada@example.com",
		FirstName:   "Ada",
		AccountName: "Analytical Engines",
		ActorName:   "Charles Babbage",
		Token:       "q7Zx3vN1kY",
		At:          issued,
		ExpiresAt:   issued.Add(7 * 24 * time.Hour),
	})
	if err != nil {
		log.Fatal(err)
	}
	// Output:
	// From: "Acme Portal" <no-reply@acme.example>
	// To: ada@example.com
	// Subject: Charles Babbage invited you to Analytical Engines on Acme Portal
	// Message-ID: <0193a4b2-7c3d-7e4f-8a9b-0c1d2e3f4a5b@acme.example>
	//
	// Hello Ada,
	//
	// Charles Babbage has invited you to join Analytical Engines on Acme Portal.
	//
	// To accept the invitation and choose your password, open this link:
	//
	// https://app.acme.example/invitation?token=q7Zx3vN1kY
	//
	// The link is valid for 7 days and expires on Monday, 7 December 2026 at 09:00 UTC. It works once.
	//
	// If you were not expecting this invitation, you can ignore this email.
	//
	// Acme Portal
}
