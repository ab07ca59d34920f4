package storetest

import (
	"testing"
	"time"

	"github.com/snapgate/snapgate/core"
)

func registryCases() []storeCase {
	return []storeCase{
		{"registry round trip", testRegistryRoundTrip},
		{"registry duplicate name", testRegistryDuplicate},
		{"registry tenant isolation", testRegistryTenantIsolation},
		{"registry update", testRegistryUpdate},
		{"registry list", testRegistryList},
	}
}

func apiKeyCases() []storeCase {
	return []storeCase{{"api keys", testAPIKeys}}
}

func registry(tenant, name string) *core.Registry {
	return &core.Registry{
		ID: newID(), TenantID: tenant, Name: name, URL: "registry.example.com:5000/team",
		Username: "user", Password: "s3cret", AuthType: "DOCKER_CONFIG", CreatedBy: "key-" + tenant,
		CreatedAt: base, UpdatedAt: base.Add(time.Second),
	}
}

func storedRegistry(g *core.Registry) *core.Registry {
	c := *g
	c.CreatedAt, c.UpdatedAt = micro(g.CreatedAt), micro(g.UpdatedAt)
	return &c
}

func mustCreateRegistry(t *testing.T, e env, g *core.Registry) {
	t.Helper()
	if err := e.st.CreateRegistry(t.Context(), g); err != nil {
		t.Fatalf("CreateRegistry(%s/%s): %v", g.TenantID, g.Name, err)
	}
}

func testRegistryRoundTrip(t *testing.T, e env) {
	g := registry("t1", "private")
	mustCreateRegistry(t, e, g)
	for _, ref := range []string{g.ID, g.Name} {
		for _, tenant := range []string{"t1", ""} {
			got, err := e.st.GetRegistry(t.Context(), tenant, ref)
			if err != nil {
				t.Fatalf("GetRegistry(%q, %s): %v", tenant, ref, err)
			}
			diff(t, "GetRegistry("+ref+")", storedRegistry(g), got)
			checkUTC(t, "GetRegistry", got.CreatedAt, got.UpdatedAt)
		}
	}
	_, err := e.st.GetRegistry(t.Context(), "t1", "missing")
	wantErr(t, "GetRegistry(missing)", err, core.ErrNotFound)

	// A registry may be named like another one's id; the id match wins.
	shadow := registry("t1", g.ID)
	mustCreateRegistry(t, e, shadow)
	got, err := e.st.GetRegistry(t.Context(), "t1", g.ID)
	if err != nil || got.ID != g.ID {
		t.Errorf("GetRegistry(id that is also a name) = %v, %v; want the registry with that id", got, err)
	}
}

func testRegistryDuplicate(t *testing.T, e env) {
	mustCreateRegistry(t, e, registry("t1", "private"))
	err := e.st.CreateRegistry(t.Context(), registry("t1", "private"))
	wantErr(t, "same name, same tenant", err, core.ErrAlreadyExists)
	mustCreateRegistry(t, e, registry("t2", "private"))
}

func testRegistryTenantIsolation(t *testing.T, e env) {
	ctx := t.Context()
	theirs := registry("t2", "private")
	mustCreateRegistry(t, e, theirs)
	for _, ref := range []string{theirs.ID, theirs.Name} {
		_, err := e.st.GetRegistry(ctx, "t1", ref)
		wantErr(t, "GetRegistry(other tenant, "+ref+")", err, core.ErrNotFound)
	}
	wantErr(t, "DeleteRegistry(other tenant)", e.st.DeleteRegistry(ctx, "t1", theirs.ID), core.ErrNotFound)
	hijack := *theirs
	hijack.TenantID, hijack.Password = "t1", "stolen"
	wantErr(t, "UpdateRegistry(other tenant)", e.st.UpdateRegistry(ctx, &hijack), core.ErrNotFound)
	got, err := e.st.GetRegistry(ctx, "t2", theirs.ID)
	if err != nil {
		t.Fatal(err)
	}
	diff(t, "registry after another tenant's update and delete", storedRegistry(theirs), got)
	list, err := e.st.ListRegistries(ctx, "t1", core.RegistryFilter{})
	if err != nil || len(list) != 0 {
		t.Errorf("ListRegistries(t1) = %v, %v; want none", list, err)
	}

	if err := e.st.DeleteRegistry(ctx, "t2", theirs.ID); err != nil {
		t.Fatalf("DeleteRegistry(own): %v", err)
	}
	_, err = e.st.GetRegistry(ctx, "t2", theirs.ID)
	wantErr(t, "GetRegistry(deleted)", err, core.ErrNotFound)
	wantErr(t, "DeleteRegistry(again)", e.st.DeleteRegistry(ctx, "t2", theirs.ID), core.ErrNotFound)
}

func testRegistryUpdate(t *testing.T, e env) {
	ctx := t.Context()
	g := registry("t1", "private")
	other := registry("t1", "taken")
	mustCreateRegistry(t, e, g)
	mustCreateRegistry(t, e, other)

	upd := *g
	upd.Name, upd.URL, upd.Username, upd.Password = "renamed", "https://ghcr.io", "", "new"
	upd.AuthType, upd.UpdatedAt = "", base.Add(time.Hour+7)
	if err := e.st.UpdateRegistry(ctx, &upd); err != nil {
		t.Fatalf("UpdateRegistry: %v", err)
	}
	got, err := e.st.GetRegistry(ctx, "t1", g.ID)
	if err != nil {
		t.Fatal(err)
	}
	diff(t, "updated registry (empty strings saved too)", storedRegistry(&upd), got)

	clash := upd
	clash.Name = "taken"
	wantErr(t, "UpdateRegistry(name clash)", e.st.UpdateRegistry(ctx, &clash), core.ErrAlreadyExists)
	missing := upd
	missing.ID = "no-such-id"
	wantErr(t, "UpdateRegistry(missing)", e.st.UpdateRegistry(ctx, &missing), core.ErrNotFound)
	if got, _ := e.st.GetRegistry(ctx, "t1", other.ID); got.Name != "taken" {
		t.Errorf("the other registry is now named %q", got.Name)
	}
}

func testRegistryList(t *testing.T, e env) {
	for _, n := range []string{"delta", "alpha", "my_reg", "myxreg", "charlie"} {
		mustCreateRegistry(t, e, registry("t1", n))
	}
	mustCreateRegistry(t, e, registry("t2", "bravo"))
	tests := []struct {
		f    core.RegistryFilter
		want []string
	}{
		{core.RegistryFilter{}, []string{"alpha", "charlie", "delta", "my_reg", "myxreg"}},
		{core.RegistryFilter{Limit: 2, Offset: 1}, []string{"charlie", "delta"}},
		{core.RegistryFilter{Offset: 4}, []string{"myxreg"}},
		{core.RegistryFilter{NameContains: "Y_R"}, []string{"my_reg"}},
		{core.RegistryFilter{NameContains: "a", Limit: 1}, []string{"alpha"}},
		{core.RegistryFilter{NameContains: "bravo"}, []string{}},
	}
	for _, tt := range tests {
		got, err := e.st.ListRegistries(t.Context(), "t1", tt.f)
		if err != nil {
			t.Fatalf("ListRegistries(%+v): %v", tt.f, err)
		}
		gotNames := make([]string, len(got))
		for i, g := range got {
			gotNames[i] = g.Name
		}
		diff(t, "ListRegistries names", tt.want, gotNames)
	}
}

func testAPIKeys(t *testing.T, e env) {
	ctx := t.Context()
	k := &core.APIKey{ID: newID(), TenantID: "t1", Hash: core.HashKey("e2b_one"), Prefix: "e2b_one", CreatedAt: base}
	if err := e.st.CreateAPIKey(ctx, k); err != nil {
		t.Fatalf("CreateAPIKey: %v", err)
	}
	got, err := e.st.GetAPIKeyByHash(ctx, k.Hash)
	if err != nil {
		t.Fatalf("GetAPIKeyByHash: %v", err)
	}
	want := *k
	want.CreatedAt = micro(k.CreatedAt)
	diff(t, "api key", &want, got)
	checkUTC(t, "api key", got.CreatedAt)

	dup := &core.APIKey{ID: newID(), TenantID: "t2", Hash: k.Hash, Prefix: "e2b_one", CreatedAt: base}
	err = e.st.CreateAPIKey(ctx, dup)
	wantErr(t, "CreateAPIKey(same hash)", err, core.ErrAlreadyExists)
	_, err = e.st.GetAPIKeyByHash(ctx, core.HashKey("e2b_other"))
	wantErr(t, "GetAPIKeyByHash(unknown)", err, core.ErrNotFound)
	other := &core.APIKey{ID: newID(), TenantID: "t1", Hash: core.HashKey("e2b_two"), Prefix: "e2b_two", CreatedAt: base}
	if err := e.st.CreateAPIKey(ctx, other); err != nil {
		t.Fatalf("CreateAPIKey(second key of a tenant): %v", err)
	}
}
