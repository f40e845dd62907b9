package delivery

import (
	"context"
	"fmt"

	"github.com/cpibroker/cpibroker/internal/natsx"
	cpibv1 "github.com/cpibroker/cpibroker/proto/cpibv1"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"
)

// Replay publishes a dead delivery again as a fresh task on its lane, its
// attempts reset and its replays counted. seq is the DLQ entry's
// sequence: in the Nats-Msg-Id it makes a repeated replay of one entry
// harmless.
func Replay(ctx context.Context, js jetstream.JetStream, t *cpibv1.Delivery, seq uint64) error {
	t.Attempts, t.LastError, t.LastStatus = 0, "", 0
	t.Replays++
	b, err := proto.Marshal(t)
	if err != nil {
		return fmt.Errorf("delivery: encode replay: %w", err)
	}
	msg := &nats.Msg{Subject: natsx.DeliverySubject(t.GetClient(), t.GetLane()), Data: b}
	if _, err := js.PublishMsg(ctx, msg, jetstream.WithMsgID(fmt.Sprintf("%s.replay.%d", t.GetId(), seq))); err != nil {
		return fmt.Errorf("delivery: replay %d: %w", seq, err)
	}
	return nil
}
