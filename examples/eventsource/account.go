package main

import (
	"errors"
	"fmt"

	"github.com/bulwark-go/bulwark/eventsource"
)

// The events of a bank account, as this version of the program writes them.
type (
	Opened struct {
		Owner string `json:"owner"`
	}
	// Deposited is schema version 2: version 1 named the amount "amt" and
	// had no currency (see DepositedV1).
	Deposited struct {
		Amount   int    `json:"amount"`
		Currency string `json:"currency"`
	}
	Withdrawn struct {
		Amount int `json:"amount"`
	}
)

// DepositedV1 is how deposits were stored before currencies came in.
type DepositedV1 struct {
	Amt int `json:"amt"`
}

// Account is the state of the aggregate, rebuilt from its events.
type Account struct {
	Owner   string `json:"owner"`
	Balance int    `json:"balance"`
	Open    bool   `json:"open"`
}

func evolve(a Account, e any) Account {
	switch e := e.(type) {
	case Opened:
		a.Owner, a.Open = e.Owner, true
	case Deposited:
		a.Balance += e.Amount
	case Withdrawn:
		a.Balance -= e.Amount
	}
	return a
}

var (
	errNotOpen      = errors.New("account is not open")
	errInsufficient = errors.New("insufficient funds")
)

// The commands: each decides, from the current state, which events happen.

func deposit(amount int) func(Account) ([]any, error) {
	return func(a Account) ([]any, error) {
		if !a.Open {
			return nil, errNotOpen
		}
		return []any{Deposited{Amount: amount, Currency: "EUR"}}, nil
	}
}

func withdraw(amount int) func(Account) ([]any, error) {
	return func(a Account) ([]any, error) {
		if !a.Open {
			return nil, errNotOpen
		}
		if a.Balance < amount {
			return nil, fmt.Errorf("%w: balance %d, asked for %d", errInsufficient, a.Balance, amount)
		}
		return []any{Withdrawn{Amount: amount}}, nil
	}
}

// newRegistry registers the events, and the upcaster that turns stored
// version 1 deposits into the current shape when they are read.
func newRegistry() (*eventsource.Registry, error) {
	reg := eventsource.NewRegistry(nil)
	return reg, errors.Join(
		eventsource.Register[Opened](reg, "account.opened", 1),
		eventsource.Register[Deposited](reg, "account.deposited", 2),
		eventsource.Register[Withdrawn](reg, "account.withdrawn", 1),
		eventsource.Upcast(reg, "account.deposited", 1, func(old DepositedV1) ([]any, error) {
			return []any{Deposited{Amount: old.Amt, Currency: "EUR"}}, nil
		}),
	)
}
