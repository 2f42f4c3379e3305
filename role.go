package usermgmt

// Permission names something a user may do. Applications define their own
// (modules, features); the library defines the three that only roles can
// carry.
type Permission string

// Permissions that only a role can carry; an individual Grant never can.
const (
	PermManageUsers Permission = "users.manage" // create, invite and administer users
	PermPricing     Permission = "pricing"      // see and change pricing
	PermPayment     Permission = "payment"      // see and change payment details
)

// Built-in role names.
const (
	// RoleAdmin holds every permission over its account and sub-accounts.
	// An account always keeps at least one active admin.
	RoleAdmin = "admin"
	// RoleGeneral holds nothing by itself; only what is granted.
	RoleGeneral = "general"
)

// Grant gives a user one permission, on every resource (Resource empty) or
// on one resource such as an insight ID or a sub-account ID.
type Grant struct {
	Permission Permission
	Resource   string
}
