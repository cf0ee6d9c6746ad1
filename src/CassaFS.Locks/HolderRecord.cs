using System.Buffers;
using System.Text.Json;

namespace CassaFS.Locks;

/// <summary>
/// The <see cref="LockHolder"/> as stored with a lock (znode data, lease column): a small JSON object
/// <c>{"host","process","purpose","since","owner","user","subject","for","brokenBy"}</c> that operators can read with any ZooKeeper or CQL shell.
/// </summary>
internal static class HolderRecord
{
    public static byte[] Serialize(LockHolder holder)
    {
        var buffer = new ArrayBufferWriter<byte>(256);
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteString("host", holder.Host);
            w.WriteNumber("process", holder.ProcessId);
            w.WriteString("purpose", holder.Purpose);
            w.WriteString("since", holder.Since);
            w.WriteString("owner", holder.Owner);
            w.WriteString("user", holder.User);
            if (holder.Subject is not null) w.WriteString("subject", holder.Subject);
            if (holder.ForProcess is { } forProcess) w.WriteNumber("for", forProcess);
            if (holder.BrokenBy is not null) w.WriteString("brokenBy", holder.BrokenBy);
            w.WriteEndObject();
        }
        return buffer.WrittenSpan.ToArray();
    }

    public static string SerializeText(LockHolder holder) => System.Text.Encoding.UTF8.GetString(Serialize(holder));

    /// <summary>The holder, or a placeholder naming what could not be read (a node written by another tool).</summary>
    public static LockHolder Parse(ReadOnlySpan<byte> data)
    {
        try
        {
            var reader = new Utf8JsonReader(data);
            using var doc = JsonDocument.ParseValue(ref reader);
            var root = doc.RootElement;
            var holder = new LockHolder(
                Text(root, "host") ?? "?",
                root.TryGetProperty("process", out var p) && p.TryGetInt32(out var pid) ? pid : 0,
                Text(root, "purpose") ?? "",
                root.TryGetProperty("since", out var s) && s.TryGetDateTimeOffset(out var since) ? since : DateTimeOffset.MinValue,
                Text(root, "owner") ?? "?");
            return holder with
            {
                BrokenBy = Text(root, "brokenBy"),
                User = Text(root, "user") ?? "?",
                Subject = Text(root, "subject"),
                ForProcess = root.TryGetProperty("for", out var f) && f.TryGetInt32(out var forProcess) ? forProcess : null,
            };
        }
        catch (JsonException)
        {
            return Unknown;
        }
    }

    public static LockHolder Parse(string? text) => text is null ? Unknown : Parse(System.Text.Encoding.UTF8.GetBytes(text));

    private static readonly LockHolder Unknown = new("?", 0, "(unreadable holder record)", DateTimeOffset.MinValue, "?");

    private static string? Text(JsonElement root, string name) =>
        root.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;
}
