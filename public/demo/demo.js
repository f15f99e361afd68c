// The demo page: the typed client in a browser, no framework and no build step.
import { createOrdersClient } from '@vending-bff/client'

const client = createOrdersClient() // the page's own origin
const $ = (id) => document.getElementById(id)
let watching

$('lookup').addEventListener('submit', (event) => {
  event.preventDefault()
  const form = new FormData(event.target)
  watch(String(form.get('id')).trim(), String(form.get('machine')).trim())
})

async function watch (id, machine) {
  watching?.abort()
  const controller = watching = new AbortController()
  reset(id)
  $('state').textContent = `Watching order ${id} on machine ${machine}…`
  const end = await client.watchOrder(id, machine, render, {
    signal: controller.signal,
    onProblem: showProblem,
    onError: (error) => { $('state').textContent = `Connection trouble, still trying: ${error.message}` }
  })
  if (end.reason === 'terminal') $('state').textContent = `Order ${id} is final: it will not change any more.`
  if (end.reason === 'problem') $('state').textContent = `Stopped: ${end.problem.title}.`
}

function reset (id) {
  $('order-id').textContent = id
  $('order').hidden = true
  $('order').classList.remove('terminal')
  $('order-final').hidden = true
  $('problem').hidden = true
  $('payment').replaceChildren()
  $('lines').replaceChildren()
}

/** Each state once, appended to its timeline when it changes. */
function append (list, text) {
  if (list.lastElementChild?.textContent === text) return
  const item = document.createElement('li')
  item.textContent = text
  list.append(item)
}

function render (order) {
  $('problem').hidden = true
  $('order').hidden = false
  append($('payment'), order.status)
  for (const line of order.items) {
    let list = document.getElementById(`line-${line.id}`)
    if (list === null) {
      const heading = document.createElement('h3')
      heading.textContent = `Line ${line.id}: product ${line.productId} × ${line.quantity}, ${line.price}`
      list = document.createElement('ol')
      list.id = `line-${line.id}`
      list.className = 'timeline'
      $('lines').append(heading, list)
    }
    append(list, line.status ?? 'unpaid')
  }
  if (order.terminal) {
    $('order').classList.add('terminal')
    $('order-final').hidden = false
  }
}

function showProblem (problem) {
  $('problem-title').textContent = problem.title
  $('problem-code').textContent = problem.code
  $('problem-detail').textContent = problem.detail
  $('problem').hidden = false
}
