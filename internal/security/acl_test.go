package security

import (
	"bufio"
	"os"
	"strings"
	"testing"
)

// TestAuthorize runs testdata/authorize.txt (format in its header).
func TestAuthorize(t *testing.T) {
	f, err := os.Open("testdata/authorize.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var acls []ACL
	z := &Authorizer{}
	sc := bufio.NewScanner(f)
	checks := 0
	for line := 1; sc.Scan(); line++ {
		fs := strings.Fields(sc.Text())
		if len(fs) == 0 || strings.HasPrefix(fs[0], "#") {
			continue
		}
		enum := func(ok bool, what string) {
			if !ok {
				t.Fatalf("line %d: bad %s", line, what)
			}
		}
		switch fs[0] {
		case "reset":
			acls, z = nil, &Authorizer{}
		case "super":
			z.SuperUsers = append(z.SuperUsers, fs[1])
		case "allow-if-no-acl":
			z.AllowIfNoACL = true
		case "acl":
			op, ok := ParseOperation(fs[3])
			enum(ok, "operation")
			perm, ok := ParsePermission(fs[4])
			enum(ok, "permission")
			rt, ok := ParseResourceType(fs[5])
			enum(ok, "resource type")
			pt, ok := ParsePatternType(fs[6])
			enum(ok, "pattern type")
			a := ACL{Principal: fs[1], Host: fs[2], Operation: op, Permission: perm, ResourceType: rt, PatternType: pt, ResourceName: fs[7]}
			if err := a.Validate(); err != nil {
				t.Fatalf("line %d: %v", line, err)
			}
			acls = append(acls, a)
		case "check":
			op, ok := ParseOperation(fs[3])
			enum(ok, "operation")
			rt, ok := ParseResourceType(fs[4])
			enum(ok, "resource type")
			d := z.Authorize(acls, Request{Principal: fs[1], Host: fs[2], Operation: op, ResourceType: rt, ResourceName: fs[5]})
			if want := fs[7] == "allow"; d.Allowed != want {
				t.Errorf("line %d: %s: got %v (%s)", line, sc.Text(), d.Allowed, d.Reason)
			}
			checks++
		default:
			t.Fatalf("line %d: unknown directive %q", line, fs[0])
		}
	}
	if checks < 30 {
		t.Fatalf("only %d checks", checks)
	}
}

func TestACLValidateAndFilter(t *testing.T) {
	ok := ACL{ResourceType: ResourceTopic, ResourceName: "t", PatternType: PatternLiteral, Principal: "User:a", Host: "*", Operation: OpRead, Permission: PermissionAllow}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	for name, mut := range map[string]func(*ACL){
		"any resource":      func(a *ACL) { a.ResourceType = ResourceAny },
		"unknown resource":  func(a *ACL) { a.ResourceType = 9 },
		"match pattern":     func(a *ACL) { a.PatternType = PatternMatch },
		"any operation":     func(a *ACL) { a.Operation = OpAny },
		"any permission":    func(a *ACL) { a.Permission = PermissionAny },
		"empty name":        func(a *ACL) { a.ResourceName = "" },
		"bad principal":     func(a *ACL) { a.Principal = "alice" },
		"cluster name":      func(a *ACL) { a.ResourceType = ResourceCluster },
		"prefixed wildcard": func(a *ACL) { a.PatternType, a.ResourceName = PatternPrefixed, "*" },
		"empty host":        func(a *ACL) { a.Host = "" },
	} {
		a := ok
		mut(&a)
		if a.Validate() == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	pre := ok
	pre.PatternType, pre.ResourceName = PatternPrefixed, "te"
	wild := ok
	wild.ResourceName = "*"
	name := func(s string) *string { return &s }
	for _, c := range []struct {
		f    Filter
		want [3]bool // ok, pre, wild
	}{
		{Filter{ResourceType: ResourceAny, PatternType: PatternAny, Operation: OpAny, Permission: PermissionAny}, [3]bool{true, true, true}},
		{Filter{ResourceType: ResourceTopic, ResourceName: name("t"), PatternType: PatternLiteral, Operation: OpAny, Permission: PermissionAny}, [3]bool{true, false, false}},
		{Filter{ResourceType: ResourceTopic, ResourceName: name("test"), PatternType: PatternMatch, Operation: OpAny, Permission: PermissionAny}, [3]bool{false, true, true}},
		{Filter{ResourceType: ResourceTopic, PatternType: PatternPrefixed, Operation: OpAny, Permission: PermissionAny}, [3]bool{false, true, false}},
		{Filter{ResourceType: ResourceGroup, PatternType: PatternAny, Operation: OpAny, Permission: PermissionAny}, [3]bool{false, false, false}},
		{Filter{ResourceType: ResourceAny, PatternType: PatternAny, Principal: name("User:b"), Operation: OpAny, Permission: PermissionAny}, [3]bool{false, false, false}},
	} {
		got := [3]bool{c.f.Matches(ok), c.f.Matches(pre), c.f.Matches(wild)}
		if got != c.want {
			t.Errorf("filter %+v: %v, want %v", c.f, got, c.want)
		}
	}
}
