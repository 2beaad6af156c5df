// Shows times in the reader's time zone. Uses textContent only: trace data never becomes markup.
document.querySelectorAll("time[datetime]").forEach(function (el) {
  var when = new Date(el.getAttribute("datetime"));
  if (!isNaN(when)) {
    el.title = el.textContent;
    el.textContent = when.toLocaleString();
  }
});
