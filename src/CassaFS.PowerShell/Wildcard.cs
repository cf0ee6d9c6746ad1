using System.Text;
using System.Text.RegularExpressions;

namespace CassaFS.PowerShell;

/// <summary>
/// PowerShell's wildcard language on names: '*', '?', '[abc]', '[a-z]', and the backtick escaping the next character.
/// Matching is case-sensitive, as names on a POSIX filesystem are.
/// </summary>
public sealed class Wildcard
{
    private readonly Regex _regex;

    public Wildcard(string pattern)
    {
        ArgumentNullException.ThrowIfNull(pattern);
        Pattern = pattern;
        _regex = new Regex(ToRegex(pattern), RegexOptions.CultureInvariant | RegexOptions.Singleline);
    }

    public string Pattern { get; }

    public bool IsMatch(string name) => _regex.IsMatch(name);

    /// <summary>Whether a string holds wildcard characters that are not escaped.</summary>
    public static bool ContainsWildcard(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        for (var i = 0; i < text.Length; i++)
        {
            if (text[i] == '`') { i++; continue; }
            if (text[i] is '*' or '?' or '[') return true;
        }
        return false;
    }

    /// <summary>The text with every wildcard character escaped, so that it matches only itself.</summary>
    public static string Escape(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var sb = new StringBuilder(text.Length);
        foreach (var c in text)
        {
            if (c is '*' or '?' or '[' or ']' or '`') sb.Append('`');
            sb.Append(c);
        }
        return sb.ToString();
    }

    /// <summary>The text with escaping backticks removed.</summary>
    public static string Unescape(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var sb = new StringBuilder(text.Length);
        for (var i = 0; i < text.Length; i++)
        {
            if (text[i] == '`' && i + 1 < text.Length) i++;
            sb.Append(text[i]);
        }
        return sb.ToString();
    }

    private static string ToRegex(string pattern)
    {
        var sb = new StringBuilder("^");
        for (var i = 0; i < pattern.Length; i++)
        {
            var c = pattern[i];
            switch (c)
            {
                case '`' when i + 1 < pattern.Length:
                    sb.Append(Regex.Escape(pattern[++i].ToString()));
                    break;
                case '*':
                    sb.Append(".*");
                    break;
                case '?':
                    sb.Append('.');
                    break;
                case '[':
                    var close = pattern.IndexOf(']', i + 1);
                    if (close < 0) throw new ArgumentException($"The wildcard pattern '{pattern}' has a '[' without its ']'; escape it with a backtick or use -LiteralPath.", nameof(pattern));
                    sb.Append('[');
                    foreach (var k in pattern.AsSpan(i + 1, close - i - 1))
                        sb.Append(k is '\\' or '^' or '[' ? "\\" + k : k.ToString());
                    sb.Append(']');
                    i = close;
                    break;
                default:
                    sb.Append(Regex.Escape(c.ToString()));
                    break;
            }
        }
        return sb.Append('$').ToString();
    }
}
