package etcdconfig_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/adapters/etcd/etcdconfig"
	"github.com/bulwark-go/bulwark/adapters/etcd/internal/etcdtest"
	"github.com/bulwark-go/bulwark/configsource"
	"github.com/bulwark-go/bulwark/configsource/configsourcetest"
	"github.com/bulwark-go/bulwark/internal/testenv"
	"github.com/bulwark-go/bulwark/retry"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/goleak"
)

func TestConformance(t *testing.T) {
	running := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, running) }) // after the client's Close
	c := etcdtest.Client(t)
	configsourcetest.Run(t, func(t *testing.T) configsourcetest.Harness {
		key := etcdtest.Prefix(t, c) + "/config"
		src, err := etcdconfig.New(c, key, etcdconfig.Config{})
		require.NoError(t, err)
		return configsourcetest.Harness{Source: src, Write: func(t *testing.T, data []byte) {
			_, err := c.Put(context.Background(), key, string(data))
			require.NoError(t, err)
		}}
	})
}

// next returns the next document, failing the test after 5s.
func next(t *testing.T, ch <-chan configsource.Document) configsource.Document {
	t.Helper()
	select {
	case d, ok := <-ch:
		require.True(t, ok, "watch closed")
		return d
	case <-time.After(5 * time.Second):
		t.Fatal("no document within 5s")
		return configsource.Document{}
	}
}

func TestMissingAndDeletedKeyIsErrNoKey(t *testing.T) {
	c := etcdtest.Client(t)
	key := etcdtest.Prefix(t, c) + "/config"
	src, err := etcdconfig.New(c, key, etcdconfig.Config{})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch, err := src.Watch(ctx)
	require.NoError(t, err)

	d := next(t, ch)
	require.ErrorIs(t, d.Err, etcdconfig.ErrNoKey)
	assert.Contains(t, d.Err.Error(), key)
	assert.Nil(t, d.Data)

	put, err := c.Put(ctx, key, `{"v":1}`)
	require.NoError(t, err)
	d = next(t, ch)
	require.NoError(t, d.Err)
	assert.Equal(t, `{"v":1}`, string(d.Data))
	assert.Equal(t, strconv.FormatInt(put.Header.Revision, 10), d.Version, "Version is the key's mod revision")

	_, err = c.Delete(ctx, key)
	require.NoError(t, err)
	require.ErrorIs(t, next(t, ch).Err, etcdconfig.ErrNoKey)

	// The same document put again after the deletion is delivered: the
	// watcher's last delivery was the error.
	_, err = c.Put(ctx, key, `{"v":1}`)
	require.NoError(t, err)
	assert.Equal(t, `{"v":1}`, string(next(t, ch).Data))

	_, err = c.Put(ctx, key, "")
	require.NoError(t, err)
	d = next(t, ch)
	require.NoError(t, d.Err)
	assert.Equal(t, []byte{}, d.Data, "an empty value is an empty document")
}

// TestOutage: a watcher whose client loses etcd delivers, once etcd is
// back, the version put meanwhile, even when the watch's history was
// compacted away (it then reads the key again).
func TestOutage(t *testing.T) {
	for _, compact := range []bool{false, true} {
		name := "Resumes"
		if compact {
			name = "Compacted"
		}
		t.Run(name, func(t *testing.T) {
			direct := etcdtest.Client(t)
			key := etcdtest.Prefix(t, direct) + "/config"
			proxy := etcdtest.NewProxy(t, testenv.EtcdEndpoints(t)[0])
			c, err := clientv3.New(clientv3.Config{Endpoints: []string{proxy.Addr()}, DialTimeout: time.Second})
			require.NoError(t, err)
			defer c.Close()
			src, err := etcdconfig.New(c, key, etcdconfig.Config{})
			require.NoError(t, err)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			_, err = direct.Put(ctx, key, "v1")
			require.NoError(t, err)
			ch, err := src.Watch(ctx)
			require.NoError(t, err)
			require.Equal(t, "v1", string(next(t, ch).Data))

			proxy.Cut()
			_, err = direct.Put(ctx, key, "v2")
			require.NoError(t, err)
			put, err := direct.Put(ctx, key, "v3")
			require.NoError(t, err)
			if compact { // past the revision the watch resumes from
				_, err = direct.Compact(ctx, put.Header.Revision)
				require.NoError(t, err)
			}
			proxy.Restore()
			deadline := time.After(30 * time.Second)
			for {
				select {
				case d := <-ch:
					if string(d.Data) == "v3" {
						return
					}
				case <-deadline:
					t.Fatal("v3 not delivered within 30s of etcd's return")
				}
			}
		})
	}
}

func TestUnreachableEtcdIsADocumentErrAndRetried(t *testing.T) {
	running := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, running) })
	c, err := clientv3.New(clientv3.Config{Endpoints: []string{"127.0.0.1:1"}, DialTimeout: time.Second})
	require.NoError(t, err)
	defer c.Close()
	src, err := etcdconfig.New(c, "/config", etcdconfig.Config{Timeout: 100 * time.Millisecond, MaxDelay: 50 * time.Millisecond})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	ch, err := src.Watch(ctx)
	require.NoError(t, err)
	for range 2 {
		d := next(t, ch)
		require.Error(t, d.Err)
		assert.Contains(t, d.Err.Error(), "etcdconfig: reading /config")
	}
	cancel()
	for range ch { // closes once ctx has ended
	}
}

func TestNewRefusesBadInput(t *testing.T) {
	c, err := clientv3.New(clientv3.Config{Endpoints: []string{"127.0.0.1:1"}, DialTimeout: time.Second})
	require.NoError(t, err)
	defer c.Close()
	_, err = etcdconfig.New(nil, "/config", etcdconfig.Config{})
	assert.ErrorContains(t, err, "client must not be nil")
	_, err = etcdconfig.New(c, "", etcdconfig.Config{})
	assert.ErrorContains(t, err, "key must not be empty")
	for _, tc := range []struct {
		cfg  etcdconfig.Config
		says string
	}{
		{etcdconfig.Config{Timeout: -1}, "Config.Timeout"},
		{etcdconfig.Config{Timeout: 2 * time.Hour}, "Config.Timeout"},
		{etcdconfig.Config{MaxDelay: -1}, "Config.MaxDelay"},
		{etcdconfig.Config{Backoff: retry.Constant{Delay: -1}}, "Config.Backoff"},
	} {
		_, err := etcdconfig.New(c, "/config", tc.cfg)
		assert.ErrorContains(t, err, tc.says)
	}
}

func TestZeroSourcePanics(t *testing.T) {
	assert.PanicsWithValue(t, "etcdconfig: Source used without New", func() { _, _ = new(etcdconfig.Source).Watch(context.Background()) })
}
