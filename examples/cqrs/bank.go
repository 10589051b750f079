package main

import (
	"errors"
	"fmt"

	"github.com/bulwark-go/bulwark/eventsource"
)

// The events of a bank account: the write side, kept by eventsource.
type (
	Opened struct {
		Owner string `json:"owner"`
	}
	Deposited struct {
		Amount int `json:"amount"`
	}
	Withdrawn struct {
		Amount int `json:"amount"`
	}
)

// Account is the aggregate's state, rebuilt from its events to decide
// commands. Queries never read it: they read the read models.
type Account struct {
	Open    bool
	Balance int
}

func evolve(a Account, e any) Account {
	switch e := e.(type) {
	case Opened:
		a.Open = true
	case Deposited:
		a.Balance += e.Amount
	case Withdrawn:
		a.Balance -= e.Amount
	}
	return a
}

var errInsufficient = errors.New("insufficient funds")

// The commands: each decides, from the current state, which events happen.

func open(owner string) func(Account) ([]any, error) {
	return func(a Account) ([]any, error) {
		if a.Open {
			return nil, errors.New("already open")
		}
		return []any{Opened{Owner: owner}}, nil
	}
}

func deposit(amount int) func(Account) ([]any, error) {
	return func(a Account) ([]any, error) {
		if !a.Open {
			return nil, errors.New("account is not open")
		}
		return []any{Deposited{Amount: amount}}, nil
	}
}

func withdraw(amount int) func(Account) ([]any, error) {
	return func(a Account) ([]any, error) {
		if a.Balance < amount {
			return nil, fmt.Errorf("%w: balance %d, asked for %d", errInsufficient, a.Balance, amount)
		}
		return []any{Withdrawn{Amount: amount}}, nil
	}
}

func newRegistry() (*eventsource.Registry, error) {
	reg := eventsource.NewRegistry(nil)
	return reg, errors.Join(
		eventsource.Register[Opened](reg, "account.opened", 1),
		eventsource.Register[Deposited](reg, "account.deposited", 1),
		eventsource.Register[Withdrawn](reg, "account.withdrawn", 1),
	)
}

func newAccounts(store eventsource.Store, reg *eventsource.Registry) (*eventsource.Repository[Account], error) {
	return eventsource.NewRepository(store, reg, evolve, eventsource.RepositoryConfig[Account]{StreamPrefix: "account-"})
}
