"""t.me preview pages in the markup t.me serves, for the public-preview source.

Markup as seen on live t.me pages (and as scrapers in many public projects read it):
- channel: <div class="tgme_page_title"><span dir="auto">Name</span><i class="verified-icon">
  </i></div> then <div class="tgme_page_extra">12 345 subscribers</div>, a "View in Telegram"
  button and a "Preview channel" link to /s/<name>;
- group: "1 234 members, 56 online"; user: the extra block holds "@name" and the button says
  "Send Message"; bot: "@name" and a second extra block "N monthly users", button "Start Bot";
- an unused name: title "Telegram: Contact @name", no title or extra block, and "If you have
  <strong>Telegram</strong>, you can contact <a class="tgme_username_link" ...>@name</a> right
  away.";
- /s/<name>: a channel's message feed with <div class="tgme_header_counter">12.3K subscribers
  </div> (abbreviated); non-channels are redirected to /<name>.
Assumption (not observed): a channel blocked for everyone keeps its title, shows the block
notice as its description and no subscriber count.
"""

from __future__ import annotations

from html import escape

COUNT_FORMATS = ("spaced", "plain", "nbsp", "thin", "abbrev", "ru")
_SEPARATORS = {"spaced": " ", "plain": "", "nbsp": "\u00a0", "thin": "\u202f", "ru": " "}


def group_digits(n: int, sep: str) -> str:
    return f"{n:,}".replace(",", sep)


def abbreviate(n: int) -> str:
    """1234 -> 1.2K, 3400000 -> 3.4M, as t.me/s/ counters show large numbers."""
    for size, suffix in ((1_000_000, "M"), (1_000, "K")):
        if n >= size:
            value = f"{n / size:.1f}".rstrip("0").rstrip(".")
            return f"{value}{suffix}"
    return str(n)


def ru_subscribers(n: int) -> str:
    if n % 10 == 1 and n % 100 != 11:
        return "подписчик"
    if 2 <= n % 10 <= 4 and not 12 <= n % 100 <= 14:
        return "подписчика"
    return "подписчиков"


def count_text(n: int, fmt: str = "spaced") -> str:
    """The text of a tgme_page_extra block for a channel of n subscribers."""
    if fmt not in COUNT_FORMATS:
        raise ValueError(f"unknown count format {fmt!r}; expected one of {COUNT_FORMATS}")
    if fmt == "ru":
        return f"{group_digits(n, ' ')} {ru_subscribers(n)}"
    number = abbreviate(n) if fmt == "abbrev" else group_digits(n, _SEPARATORS[fmt])
    return f"{number} subscriber{'' if n == 1 else 's'}"


def _page(title: str, og_title: str, body: str, username: str) -> str:
    return f"""<!DOCTYPE html>
<html>
  <head>
    <meta charset="utf-8">
    <title>{escape(title)}</title>
    <meta name="viewport" content="width=device-width, initial-scale=1.0">
    <meta property="og:title" content="{escape(og_title)}">
    <meta property="og:site_name" content="Telegram">
    <meta property="al:android:url" content="tg://resolve?domain={username}">
    <meta name="robots" content="noindex, nofollow">
  </head>
  <body class="no_transition">
    <div class="tgme_page_wrap">
      <div class="tgme_body_wrap">
        <div class="tgme_page">
{body}
        </div>
      </div>
    </div>
  </body>
</html>
"""


def _title_block(name: str, verified: bool) -> str:
    icon = '<i class="verified-icon"></i>' if verified else ""
    return f'<div class="tgme_page_title"><span dir="auto">{escape(name)}</span>{icon}</div>'


def channel_page(
    username: str, name: str, members: int, *, verified: bool, about: str, fmt: str = "spaced"
) -> str:
    body = f"""          <div class="tgme_page_photo"><a href="tg://resolve?domain={username}"><img class="tgme_page_photo_image" src="https://cdn1.telesco.pe/file/{username}.jpg"></a></div>
          {_title_block(name, verified)}
          <div class="tgme_page_extra">
            {escape(count_text(members, fmt))}
          </div>
          <div class="tgme_page_description" dir="auto">{escape(about)}</div>
          <div class="tgme_page_action"><a class="tgme_action_button_new shine" href="tg://resolve?domain={username}">View in Telegram</a></div>
          <div class="tgme_page_context_link_wrap"><a href="/s/{username}" class="tgme_page_context_link">Preview channel</a></div>"""  # noqa: E501
    return _page(f"Telegram: Contact @{username}", name, body, username)


def blocked_page(username: str, name: str, notice: str) -> str:
    body = f"""          {_title_block(name, False)}
          <div class="tgme_page_description" dir="auto">{escape(notice)}</div>
          <div class="tgme_page_action"><a class="tgme_action_button_new shine" href="tg://resolve?domain={username}">View in Telegram</a></div>"""  # noqa: E501
    return _page(f"Telegram: Contact @{username}", name, body, username)


def account_page(username: str, name: str, *, monthly_users: int | None = None) -> str:
    """A user's page, or a bot's when monthly_users is given."""
    extra = f'<div class="tgme_page_extra">@{username}</div>'
    if monthly_users is not None:
        users = group_digits(monthly_users, " ")
        extra += f'\n          <div class="tgme_page_extra">{users} monthly users</div>'
    button = "Start Bot" if monthly_users is not None else "Send Message"
    body = f"""          {_title_block(name, False)}
          {extra}
          <div class="tgme_page_action"><a class="tgme_action_button_new shine" href="tg://resolve?domain={username}">{button}</a></div>"""  # noqa: E501
    return _page(f"Telegram: Contact @{username}", name, body, username)


def missing_page(username: str) -> str:
    body = f"""          <div class="tgme_page_icon"><i class="tgme_icon_user"></i></div>
          <div class="tgme_page_description">If you have <strong>Telegram</strong>, you can contact <a class="tgme_username_link" href="tg://resolve?domain={username}">@{username}</a> right away.</div>
          <div class="tgme_page_action"><a class="tgme_action_button_new shine" href="tg://resolve?domain={username}">Send Message</a></div>"""  # noqa: E501
    title = f"Telegram: Contact @{username}"
    return _page(title, title, body, username)


def feed_page(username: str, name: str, members: int) -> str:
    """A channel's /s/ page header (the feed itself is left out)."""
    counter = f"{abbreviate(members)} subscriber{'' if members == 1 else 's'}"
    return f"""<!DOCTYPE html>
<html>
  <head><meta charset="utf-8"><title>{escape(name)} – Telegram</title>
  <meta property="og:title" content="{escape(name)}"></head>
  <body class="widget_frame_base tgme_webpreview emoji_image">
    <header class="tgme_header search_collapsed">
      <div class="tgme_header_info">
        <div class="tgme_header_title">{escape(name)}</div>
        <div class="tgme_header_counter">{counter}</div>
      </div>
    </header>
    <section class="tgme_channel_history js-message_history"></section>
    <div class="tgme_channel_info_counters">
      <div class="tgme_channel_info_counter"><span class="counter_value">{abbreviate(members)}</span> <span class="counter_type">subscribers</span></div>
    </div>
  </body>
</html>
"""  # noqa: E501
